"""The composition root: everything a running service or a command holds, built in one place.

`open_runtime(settings)` opens the parts in order on one AsyncExitStack, each start pushing its
stop, so they stop in the reverse order and a failure while starting one stops those already
started. `serve` opens it with `serving=True` (the background workers, the outage spool and the
webhook receiver); every command opens it through `app.cli.runtime.cli_runtime`, without them.

The ingest writer and its ordered after-store steps are built by `ingest_steps` alone, so a
webhook stored live, replayed from the outage spool or re-parsed by `reprocess` goes through the
same steps: the live feed's entry, the opt-out keywords (a STOP opts the number out and queues
its push to Mobivate), the HELP and STOP replies when configured, delivery linking, the opt-outs
that linked receipts report, and waking the subscriptions' worker (their deliveries are written
with the feed's entries, by a trigger).

Routes reach the parts through `app.api.deps.runtime_part`, by name and type.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.background import Worker
from app.core.db import create_engine
from app.core.logs import register_secret
from app.core.metrics import observe_mobivate_call
from app.delivery.linking import DeliveryLinking
from app.delivery.tasks import PeriodicReconcile
from app.delivery.transitions import install_transition_counting
from app.feed.entries import FeedEntries
from app.feed.watch import FeedWatcher
from app.mobivate.client import MobivateClient
from app.mobivate.contacts import ContactsProxyClient, contacts_http_client
from app.optouts.incoming import IncomingKeywords
from app.optouts.learned import ReceiptOptouts
from app.optouts.outbox import OutboxWorker
from app.optouts.sync import PeriodicOptoutSync
from app.registration.registrar import start_registration
from app.registration.silence_watch import SilenceWatch
from app.sending.replies import AutoReplies
from app.sending.submitter import BatchSubmitter
from app.stats.rollup import RollupTask
from app.subscriptions.ingest_step import WakeDeliveries
from app.subscriptions.targets import delivery_http_client
from app.subscriptions.worker import Schedule, SubscriptionWorker
from app.webhooks.ingest import AfterStoreStep, IngestWriter
from app.webhooks.outage import open_outage_spool
from app.webhooks.quarantine import Quarantine
from app.webhooks.receive import WebhookReceiver
from app.webhooks.secret import mask_secret, resolve_webhook_secret, webhook_urls
from app.webhooks.throttle import FailureLimiter

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    webhook_secret: str
    # The one HTTP client for every call to Mobivate.
    http: httpx.AsyncClient
    # For sends and lookups (retries on); None without MOBIVATE_API_KEY.
    mobivate: MobivateClient | None
    ingest: IngestWriter
    outbox: OutboxWorker
    feed: FeedWatcher
    # Webhook requests the database will not store, shared by every process on the host.
    quarantine: Quarantine
    # Sends the deliveries to subscribers; started only while serving.
    subscriptions: SubscriptionWorker
    # Checks and sends queued batches; None without MOBIVATE_API_KEY; started only while
    # serving (`send-batch` starts it while it waits).
    batches: BatchSubmitter | None
    # Only while serving:
    webhooks: WebhookReceiver | None = None
    registration: Worker | None = None
    silence: SilenceWatch | None = None


def open_engine(settings: Settings) -> AsyncEngine:
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    install_transition_counting(engine.sync_engine)
    return engine


def mobivate_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """One client per process, shared by every part that calls Mobivate; tests pass the fake
    Mobivate's transport instead of the network."""
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
    """None when MOBIVATE_API_KEY is not set. Parts that retry on their own schedule (the
    outbox, registration) take `retry_attempts=1`."""
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


def contacts_proxy(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[ContactsProxyClient, httpx.AsyncClient] | None:
    """The contacts proxy's client and its own HTTP client (which adds the password on the way
    out), or None unless OPTOUT_CONTACTS_PROXY is on."""
    if not settings.optout_contacts_proxy:
        return None
    username, password = settings.mobivate_username, settings.mobivate_password
    # Settings refuses OPTOUT_CONTACTS_PROXY without both.
    assert username is not None
    assert password is not None
    for form in (password.get_secret_value(), quote(password.get_secret_value(), safe="")):
        register_secret(form)
    http = contacts_http_client(
        password, timeout=settings.mobivate_timeout_seconds, transport=transport
    )
    client = ContactsProxyClient(
        http,
        base_url=settings.mobivate_contacts_url,
        username=username,
        password=password,
        on_call=observe_mobivate_call,
    )
    return client, http


def ingest_steps(
    settings: Settings,
    *,
    outbox: OutboxWorker,
    feed: FeedWatcher,
    subscriptions: SubscriptionWorker,
    replies: AutoReplies,
) -> list[AfterStoreStep]:
    """What happens to every newly stored webhook event, in this order, in the transaction that
    stores it. The feed's step comes first: it takes the feed lock that every later writer of
    feed entries in the same transaction (opt-out changes, status triggers) needs anyway."""
    return [
        FeedEntries(feed.wake),
        IncomingKeywords.from_settings(settings, outbox.wake),
        replies,
        DeliveryLinking(),
        ReceiptOptouts(),
        WakeDeliveries(subscriptions.wake_for_events),
    ]


def ingest_writer(
    settings: Settings,
    engine: AsyncEngine,
    *,
    outbox: OutboxWorker,
    feed: FeedWatcher,
    subscriptions: SubscriptionWorker,
    replies: AutoReplies,
) -> IngestWriter:
    return IngestWriter(
        engine,
        max_batch=settings.ingest_max_batch,
        writers=settings.ingest_writers,
        linger_seconds=settings.ingest_linger_ms / 1000,
        click_window_seconds=settings.click_dedupe_window_seconds,
        default_region=settings.default_region,
        steps=ingest_steps(
            settings, outbox=outbox, feed=feed, subscriptions=subscriptions, replies=replies
        ),
    )


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    serving: bool = False,
    mobivate_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Runtime]:
    async with AsyncExitStack() as stack:
        engine = open_engine(settings)
        stack.push_async_callback(engine.dispose)
        configured = settings.webhook_secret
        secret = await resolve_webhook_secret(
            engine, configured.get_secret_value() if configured else None
        )
        register_secret(secret)
        http = mobivate_http_client(settings, mobivate_transport)
        stack.push_async_callback(http.aclose)
        mobivate = mobivate_client(settings, http)
        once = mobivate_client(settings, http, retry_attempts=1)
        proxy = contacts_proxy(settings, mobivate_transport)
        if proxy is not None:
            stack.push_async_callback(proxy[1].aclose)

        outbox = OutboxWorker(
            engine,
            once,
            contacts=proxy[0] if proxy else None,
            poll_interval=settings.outbox_poll_interval_seconds,
            backoff_initial=settings.outbox_backoff_initial_seconds,
            backoff_max=settings.outbox_backoff_max_seconds,
            lease_seconds=settings.outbox_lease_seconds,
        )
        feed = FeedWatcher(
            engine,
            poll_seconds=settings.event_stream_poll_seconds,
            retention_hours=settings.event_feed_retention_hours,
        )
        subscriptions = subscription_worker(settings, engine, stack)
        replies = AutoReplies(engine, settings, mobivate)
        stack.push_async_callback(replies.stop)
        writer = ingest_writer(
            settings,
            engine,
            outbox=outbox,
            feed=feed,
            subscriptions=subscriptions,
            replies=replies,
        )
        quarantine = Quarantine(settings.spool_dir, max_body_bytes=settings.max_body_bytes)
        batches = None if mobivate is None else BatchSubmitter(engine, settings, mobivate)
        if batches is not None:
            stack.push_async_callback(batches.stop)
        parts = (
            settings,
            engine,
            secret,
            http,
            mobivate,
            writer,
            outbox,
            feed,
            quarantine,
            subscriptions,
            batches,
        )
        if not serving:
            await writer.start()
            stack.push_async_callback(writer.stop)
            yield Runtime(*parts)
            return

        await _start_background(stack, settings, engine, mobivate, outbox, feed)
        await subscriptions.start()
        stack.push_async_callback(subscriptions.stop)
        await writer.start()
        stack.push_async_callback(writer.stop)
        if batches is not None:
            batches.start()
        spool = await open_outage_spool(settings, engine, writer, quarantine)
        stack.push_async_callback(spool.stop)
        receiver = WebhookReceiver(
            secret=secret,
            writer=writer,
            spool=spool,
            limiter=FailureLimiter(settings.webhook_auth_failures_per_minute),
            max_body_bytes=settings.max_body_bytes,
        )
        masked = webhook_urls(settings.public_base_url or "", mask_secret(secret))
        logger.info("webhook URLs: %s", ", ".join(masked.values()))
        registration = start_registration(settings, engine, once, secret)
        if registration is not None:
            stack.push_async_callback(registration.stop)
        silence = None
        if settings.receipt_silence_minutes > 0:
            silence = SilenceWatch.from_settings(settings, engine, once, secret)
            silence.start()
            stack.push_async_callback(silence.stop)
        yield Runtime(*parts, receiver, registration, silence)


def subscription_worker(
    settings: Settings, engine: AsyncEngine, stack: AsyncExitStack
) -> SubscriptionWorker:
    http = delivery_http_client(settings.subscription_timeout_seconds)
    stack.push_async_callback(http.aclose)
    schedule = Schedule(
        backoff_initial=settings.subscription_backoff_initial_seconds,
        backoff_max=settings.subscription_backoff_max_seconds,
        retry_period=timedelta(hours=settings.subscription_retry_hours),
    )
    return SubscriptionWorker(
        engine,
        http,
        schedule,
        poll_interval=settings.subscription_poll_interval_seconds,
        lease_seconds=settings.subscription_lease_seconds,
        allow_private=settings.subscription_allow_private,
    )


async def _start_background(
    stack: AsyncExitStack,
    settings: Settings,
    engine: AsyncEngine,
    mobivate: MobivateClient | None,
    outbox: OutboxWorker,
    feed: FeedWatcher,
) -> None:
    """The workers that keep a serving process's state current; each stops after the writer."""
    await feed.start()
    stack.push_async_callback(feed.stop)
    rollup = RollupTask(engine, settings.stats_rollup_interval_seconds)
    rollup.start()
    stack.push_async_callback(rollup.stop)
    await outbox.start()
    stack.push_async_callback(outbox.stop)
    if mobivate is None:
        return
    if settings.optout_sync_interval_minutes > 0:
        sync = PeriodicOptoutSync(
            engine,
            mobivate,
            interval_minutes=settings.optout_sync_interval_minutes,
            page_size=settings.optout_sync_page_size,
            region=settings.default_region,
            tolerance=timedelta(seconds=settings.event_time_tolerance_seconds),
        )
        await sync.start()
        stack.push_async_callback(sync.stop)
    if settings.reconcile_interval_minutes > 0:
        reconcile = PeriodicReconcile(
            engine,
            mobivate,
            interval_seconds=settings.reconcile_interval_minutes * 60,
            older_than=timedelta(minutes=settings.reconcile_older_than_minutes),
            search_pages=settings.reconcile_search_pages,
        )
        reconcile.start()
        stack.push_async_callback(reconcile.stop)
