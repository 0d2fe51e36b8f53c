"""Application factory: the middleware, the webhook route, one /api/v1 router, error handlers.

The running service itself (database, workers, the ingest writer, the Mobivate client) is the
runtime, opened by the lifespan (`app.runtime.open_runtime`) and kept as `app.state.runtime`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import __version__
from app.api.deps import ApiAuth
from app.api.docs import AUTH
from app.api.errors import install_error_handlers
from app.api.middleware import RequestContextMiddleware, RootPathMiddleware
from app.api.openapi import install_openapi
from app.config import Settings, get_settings
from app.core.logs import register_secret
from app.feed import api as feed
from app.ops import health, metrics_api
from app.optouts import api as optouts
from app.registration import api as registration
from app.runtime import open_runtime
from app.sending import api as sending
from app.stats import api as stats
from app.webhooks import api as webhook_lists
from app.webhooks import receive as webhooks


def api_router() -> APIRouter:
    """Every REST API route under /api/v1, behind the bearer token."""
    router = APIRouter(prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    for domain in (
        registration,
        optouts,
        sending,
        webhook_lists,
        feed,
        stats,
    ):
        router.include_router(domain.router)
    return router


def create_app(
    settings: Settings | None = None, *, mobivate_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`mobivate_transport` replaces the network for every call to Mobivate (tests pass the
    fake Mobivate's)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(
            settings, serving=True, mobivate_transport=mobivate_transport
        ) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="mobivate-hooks",
        summary="Webhook receiver, opt-out registry and sender for Mobivate bulk SMS",
        version=__version__,
        lifespan=lifespan,
    )
    for token in settings.api_token_list:
        register_secret(token)
    for secret_setting in (
        settings.metrics_token,
        settings.webhook_secret,
        settings.mobivate_api_key,
    ):
        if secret_setting is not None:
            register_secret(secret_setting.get_secret_value())
    # Starlette runs the middleware added last outermost: client address first, then context.
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    if settings.root_path:
        app.add_middleware(RootPathMiddleware, root_path=settings.root_path)
    app.include_router(health.router)
    app.include_router(metrics_api.router)
    app.include_router(api_router())
    # First: every request tries the routes in order, and the webhooks are the hot path.
    app.router.routes[:0] = webhooks.routes
    install_error_handlers(app)
    install_openapi(app)
    return app
