"""The service's Mobivate client, built from settings.

One `httpx.AsyncClient` per process is shared by every feature that calls Mobivate; tests pass
the fake's transport instead of the network.
"""

import httpx

from app.config import Settings
from app.core.metrics import observe_mobivate_call
from app.mobivate.client import MobivateClient


def mobivate_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        timeout=settings.mobivate_timeout_seconds,
        headers={"User-Agent": "mobivate-hooks"},
    )


def mobivate_client(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    retry_attempts: int = 3,
    retry_wait_seconds: float = 0.5,
    retry_max_wait_seconds: float = 5.0,
) -> MobivateClient | None:
    """None when MOBIVATE_API_KEY is not set. `retry_*`: see MobivateClient."""
    if settings.mobivate_api_key is None:
        return None
    return MobivateClient(
        http,
        base_url=settings.mobivate_base_url,
        api_key=settings.mobivate_api_key,
        timeout=settings.mobivate_timeout_seconds,
        retry_attempts=retry_attempts,
        retry_wait_seconds=retry_wait_seconds,
        retry_max_wait_seconds=retry_max_wait_seconds,
        on_call=observe_mobivate_call,
    )
