"""The app in-process: settings for a test database, and the ASGI app with its lifespan running
and an HTTP client talking to it."""

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.runtime import Runtime

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
API_TOKEN = "test-api-token"
AUTH_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}
SPOOL_ROOT = Path(tempfile.mkdtemp(prefix="mobivate-hooks-test-spools-"))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: the test secret and token, debug logs, a spool of its own."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "webhook_secret": WEBHOOK_SECRET,
        "api_tokens": API_TOKEN,
        "log_level": "DEBUG",
        "environment": "development",
        "spool_dir": SPOOL_ROOT / uuid.uuid4().hex,
        "spool_drain_interval_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass(frozen=True)
class RunningApp:
    """The ASGI app with its lifespan running, and an HTTP client talking to it.

    The client sends the test API token, so REST API calls are authenticated by default.
    """

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def start_app(
    settings: Settings, *, mobivate_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[RunningApp]:
    """The app made from `settings`, calling Mobivate through `mobivate_transport` if given."""
    app = create_app(settings, mobivate_transport=mobivate_transport)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=AUTH_HEADERS
        ) as client:
            yield RunningApp(app, client)


def client_from(app: FastAPI, address: str, **headers: str) -> httpx.AsyncClient:
    """A client of `app` connecting from `address`, sending `headers`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)
