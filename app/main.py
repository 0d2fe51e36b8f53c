"""Application factory: the middleware, the webhook route, one /api/v1 router, error handlers.

The running service itself (database, workers, the ingest writer, the Mobivate client) is the
runtime, opened by the lifespan (`app.runtime.open_runtime`) and kept as `app.state.runtime`.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from app import __version__
from app.api.body_limit import BodyLimitMiddleware
from app.api.client_address import ClientAddress, ClientAddressMiddleware
from app.api.deps import API_PREFIX, ApiAuth, TokenOrTicketAuth
from app.api.docs import AUTH
from app.api.docs_pages import ASSETS_PATH, install_docs_pages
from app.api.errors import install_error_handlers
from app.api.hot_path import HotPath
from app.api.middleware import RequestContextMiddleware, RootPathMiddleware
from app.api.openapi import install_openapi
from app.config import Settings, get_settings
from app.core.cpu_parts import cpu_accounting
from app.core.logs import register_secret
from app.feed import api as feed
from app.feed.watch import CLOSE_STREAMS
from app.lookups import api as lookups
from app.ops import health, metrics_api, overview
from app.optouts import api as optouts
from app.registration import api as registration
from app.runtime import open_runtime
from app.sending import api as sending
from app.stats import api as stats
from app.subscriptions import api as subscriptions
from app.ui.pages import UI_PATH, install_ui
from app.webhooks import api as webhook_lists
from app.webhooks import quarantine_api
from app.webhooks import receive as webhooks

API_ROUTERS = tuple(
    domain.router
    for domain in (
        registration,
        optouts,
        sending,
        lookups,
        webhook_lists,
        quarantine_api,
        feed,
        stats,
        overview,
        subscriptions,
    )
)


def api_router() -> APIRouter:
    """Every REST API route under /api/v1, behind the bearer token (or a stream ticket for the
    live feed)."""
    router = APIRouter(prefix=API_PREFIX, responses=AUTH)
    authenticated = APIRouter(dependencies=[ApiAuth])
    for domain_router in API_ROUTERS:
        authenticated.include_router(domain_router)
    router.include_router(authenticated)
    # The live feed also opens with a stream ticket, for browsers' EventSource.
    router.include_router(feed.stream_router, dependencies=[TokenOrTicketAuth])
    return router


def api_route_templates() -> dict[int, str]:
    """The full template of every /api/v1 route, for access logs and metric labels."""
    return {
        id(route): API_PREFIX + str(getattr(route, "path", ""))
        for domain_router in (*API_ROUTERS, feed.stream_router)
        for route in domain_router.routes
    }


MOUNTS = (ASSETS_PATH, UI_PATH)


def operation_id(route: APIRoute) -> str:
    """A route's operationId is its function's name (`get_batch`, `stream_events`): stable, and
    what a generated client names its methods after."""
    return route.name


class ServiceApp(FastAPI):
    """FastAPI with the webhook hot path in front of its whole middleware stack."""

    settings: Settings

    def build_middleware_stack(self) -> ASGIApp:
        settings = self.settings
        return HotPath(
            super().build_middleware_stack(),
            endpoint=webhooks.endpoint,
            template=webhooks.TEMPLATE,
            client_address=ClientAddress(settings.forwarded_allow_ips),
            root_path=settings.root_path,
            access_log=settings.access_log,
        )


def create_app(
    settings: Settings | None = None, *, mobivate_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`mobivate_transport` replaces the network for every call to Mobivate (tests pass the
    fake Mobivate's)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            if settings.cpu_accounting:  # first, so the runtime's tasks are counted too
                await stack.enter_async_context(cpu_accounting())
            runtime = await stack.enter_async_context(
                open_runtime(settings, serving=True, mobivate_transport=mobivate_transport)
            )
            app.state.runtime = runtime
            # The server calls this when it starts shutting down (`app.cli.http_protocol`).
            yield {CLOSE_STREAMS: runtime.feed.close_streams}

    app = ServiceApp(
        title="mobivate-hooks",
        summary="Webhook receiver, opt-out registry and sender for Mobivate bulk SMS",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.settings = settings
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
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["X-Request-ID", "Idempotent-Replayed", "Location"],
            max_age=600,
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(
        RequestContextMiddleware,
        access_log=settings.access_log,
        prefixed=api_route_templates(),
        mounts=MOUNTS,
    )
    app.add_middleware(ClientAddressMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    if settings.root_path:
        app.add_middleware(RootPathMiddleware, root_path=settings.root_path)
    app.include_router(health.router)
    app.include_router(metrics_api.router)
    app.include_router(api_router())
    app.router.routes[:0] = webhooks.routes
    install_error_handlers(app)
    install_openapi(app)
    install_docs_pages(app)
    install_ui(app)
    return app
