"""Application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api.deps import ApiAuth
from app.api.docs import AUTH
from app.api.errors import install_error_handlers
from app.api.middleware import RequestContextMiddleware, RootPathMiddleware
from app.api.openapi import install_openapi
from app.config import Settings, get_settings
from app.core.db import create_engine
from app.core.logs import register_secret
from app.delivery.tasks import start_delivery
from app.feed import api as stream
from app.feed.watch import start_feed
from app.mobivate_clients import mobivate_client, mobivate_http_client
from app.ops import health
from app.ops import metrics_api as metrics
from app.optouts import api as optouts
from app.optouts.tasks import start_optouts
from app.registration import api as registrations
from app.registration.registrar import start_registration
from app.sending import api as messages
from app.sending import batch_api as batches
from app.sending import lists_api as sent_lists
from app.stats import api as stats
from app.stats.rollup import start_rollup
from app.webhooks import api as events
from app.webhooks import receive as webhooks
from app.webhooks.ingest import IngestWriter
from app.webhooks.outage import open_outage_spool
from app.webhooks.secret import mask_secret, resolve_webhook_secret, webhook_urls
from app.webhooks.throttle import FailureLimiter

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, mobivate_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`mobivate_transport` replaces the network for every call to Mobivate (tests pass the
    fake Mobivate's); `app.state.mobivate` is the shared client, None without MOBIVATE_API_KEY."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        secret_value = (
            settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        )
        secret = await resolve_webhook_secret(engine, secret_value)
        register_secret(secret)
        writer = IngestWriter(
            engine,
            max_batch=settings.ingest_max_batch,
            linger_seconds=settings.ingest_linger_ms / 1000,
            click_window_seconds=settings.click_dedupe_window_seconds,
        )
        app.state.engine = engine
        app.state.webhook_secret = secret
        app.state.ingest = writer
        app.state.rejected_webhooks = 0
        app.state.auth_failures = FailureLimiter(settings.webhook_auth_failures_per_minute)
        app.state.feed = await start_feed(
            engine,
            writer,
            poll_seconds=settings.event_stream_poll_seconds,
            retention_hours=settings.event_feed_retention_hours,
        )
        app.state.stats_rollup = start_rollup(engine, settings.stats_rollup_interval_seconds)
        await writer.start()
        masked = webhook_urls(settings.public_base_url or "", mask_secret(secret))
        logger.info("webhook URLs: %s", ", ".join(masked.values()))
        mobivate_http = mobivate_http_client(settings, mobivate_transport)
        app.state.mobivate = mobivate_client(settings, mobivate_http)
        app.state.registration = start_registration(settings, engine, mobivate_http, secret)
        app.state.optouts = await start_optouts(settings, engine, writer, mobivate_http)
        app.state.delivery = start_delivery(settings, engine, writer, app.state.mobivate)
        app.state.spool = await open_outage_spool(settings, engine, writer)
        try:
            yield
        finally:
            await app.state.registration.stop()
            await app.state.delivery.stop()
            await app.state.spool.stop()
            await writer.stop()
            await app.state.optouts.stop()
            await mobivate_http.aclose()
            await app.state.feed.stop()
            await app.state.stats_rollup.stop()
            await engine.dispose()

    app = FastAPI(
        title="mobivate-hooks",
        summary="Webhook receiver, opt-out registry and sender for Mobivate bulk SMS",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
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
    app.include_router(metrics.router)
    app.include_router(
        registrations.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH
    )
    app.include_router(optouts.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    app.include_router(messages.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    app.include_router(batches.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    app.include_router(events.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    app.include_router(sent_lists.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    app.include_router(stream.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    app.include_router(stats.router, prefix="/api/v1", dependencies=[ApiAuth], responses=AUTH)
    # First: every request tries the routes in order, and the webhooks are the hot path.
    app.router.routes[:0] = webhooks.routes
    install_error_handlers(app)
    install_openapi(app)
    return app
