"""Service settings, read from environment variables and an optional `.env` file."""

from enum import StrEnum
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/mobivate-hooks.db"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg", "postgresql+psycopg")
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "token", "example", "xxx"}
)
MIN_WEBHOOK_SECRET_LENGTH = 16
_EMPTY_KEPT = frozenset({"database_url", "mobivate_base_url", "forwarded_allow_ips", "root_path"})


class Scope(StrEnum):
    """What an API token may do (see API_TOKENS)."""

    READ = "read"
    SEND = "send"
    OPTOUTS_WRITE = "optouts:write"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)
_KNOWN_SCOPES = ", ".join(Scope)


def parse_tokens(value: str, setting: str) -> dict[str, frozenset[Scope]]:
    """`tok1, tok2:read+send`: each token with its scopes, a bare token with every scope. The
    messages never quote a token, since they reach logs."""
    tokens: dict[str, frozenset[Scope]] = {}
    for position, entry in enumerate(value.split(","), start=1):
        token, colon, listed = entry.strip().partition(":")
        token = token.strip()
        if not token:
            if colon:
                raise ValueError(f"{setting}: entry {position} has scopes but no token")
            continue
        scopes = ALL_SCOPES
        if colon:
            names = [name.strip() for name in listed.split("+")]
            unknown = [name for name in names if name not in ALL_SCOPES]
            if unknown:
                raise ValueError(
                    f"{setting}: entry {position} names unknown scope {unknown[0]!r} (known: "
                    f"{_KNOWN_SCOPES}, joined with '+'; a token cannot contain ':')"
                )
            scopes = frozenset(Scope(name) for name in names)
        if token in tokens:
            raise ValueError(f"{setting}: entry {position} repeats a token listed before it")
        tokens[token] = scopes
    return tokens


class Settings(BaseSettings):
    # Errors never echo the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )
    _token_scopes: dict[str, frozenset[Scope]] = PrivateAttr(default_factory=dict)

    # The configuration reference (docs/pages/configuration.md) is generated from these fields:
    # each description is the setting's documentation; `shown_default` replaces a default that
    # reads badly there (None, or a number that means "off").
    environment: Literal["production", "development"] = Field(
        default="production",
        description="`production` refuses placeholder secrets (`changeme`, a `WEBHOOK_SECRET` "
        "under 16 characters) and a non-https `PUBLIC_BASE_URL`; `development` allows them for "
        "local runs.",
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="Where events are stored. PostgreSQL: "
        "`postgresql+asyncpg://user:password@host:5432/dbname`.",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections per process (as many again may overflow).",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="The secret path segment of the webhook URLs. When unset, a random one is "
        "generated on first start and kept in the database, so every replica and restart "
        "agrees.",
        json_schema_extra={"shown_default": "generated"},
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`."
    )
    migrate_on_start: bool = Field(
        default=True,
        description="`serve` applies pending database migrations before it starts. Concurrent "
        "starts are safe: one process migrates, the others wait.",
    )
    public_base_url: str | None = Field(
        default=None,
        description="The HTTPS address your reverse proxy exposes, e.g. "
        "`https://sms.example.com` (a path prefix such as `https://example.com/sms` works). Used "
        "to print the full webhook URLs and to register them with Mobivate.",
    )
    api_tokens: SecretStr | None = Field(
        default=None,
        description="Comma-separated bearer tokens accepted by the REST API under `/api/v1` "
        "(several, so tokens can be rotated). A token may be limited to scopes: "
        "`tok1,tok2:read+send` gives `tok1` every scope and `tok2` only `read` and `send` (the "
        "scopes are `read`, `send`, `optouts:write` and `admin`; see [Tokens and scopes]"
        "(rest-api.md#tokens-and-scopes)). With no token set here or in `API_READ_TOKENS`, the "
        "REST API refuses every request.",
    )
    api_read_tokens: SecretStr | None = Field(
        default=None,
        description="Comma-separated bearer tokens that can only read (the `read` scope), for "
        "dashboards; the same as listing them in `API_TOKENS` as `token:read`.",
    )
    log_format: Literal["json", "text"] = Field(
        default="text",
        description="`json` for one JSON object per line (the container image sets it), `text` "
        "otherwise. Every line carries the request id; phone numbers are masked and secrets "
        "replaced by `***`.",
    )
    access_log: bool = Field(
        default=True,
        description="One line per request: method, route template (never the raw path, which "
        "carries the webhook secret), status, duration, request id.",
    )
    cpu_accounting: bool = Field(
        default=False,
        description="Count each worker's CPU time by part in `/metrics` "
        "(`process_cpu_part_seconds_total`: `http` for uvicorn's protocol and writing answers, "
        "`app` for the application's tasks), as the webhook benchmark does. It costs about "
        "1 µs of CPU per step of an asyncio task (a request takes a few).",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Comma-separated addresses (or networks, such as `10.0.0.0/8`) of reverse "
        "proxies whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed; `*` trusts any, empty "
        "none. From anyone else those headers are ignored.",
    )
    root_path: str = Field(
        default="",
        description="Path prefix the proxy serves the app under (e.g. `/sms`), whether or not "
        "the proxy strips it; `/docs` and `/openapi.json` follow it.",
    )
    api_docs: Literal["public", "token", "off"] = Field(
        default="public",
        description="Who may read `/docs`, `/redoc` and `/openapi.json`: `public` (anyone who "
        "reaches the service), `token` (a bearer token from `API_TOKENS`, for generated clients; "
        "a browser cannot send it) or `off` (404).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, `GET /metrics` requires `Authorization: Bearer <METRICS_TOKEN>`.",
    )
    request_read_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Most seconds a client may take to send a whole request, headers and body, "
        "counted from when it connects or starts its next request; a slower one gets `408` and "
        "is disconnected (`serve`).",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Most open client connections per `serve` process; past it, a new connection "
        "closes the oldest one not being answered (idle, or still sending its request).",
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Largest webhook body accepted (256 KiB); larger ones get `413`.",
    )
    click_dedupe_window_seconds: int = Field(
        default=600,
        ge=1,
        description="Identical click notifications within one such window are one click (see "
        "[Duplicates](webhooks.md#duplicates)).",
    )
    ingest_max_batch: int = Field(
        default=500,
        ge=1,
        description="Most webhook requests written in one database transaction.",
    )
    ingest_linger_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="How long each ingest transaction waits after its first request for more to "
        "join it. `0`: none, a request that finds a writer free is written at once and what "
        "arrives during a commit forms the next transaction. A wait trades latency for fewer, "
        "larger transactions; it did not pay off in the benchmarks.",
    )
    ingest_writers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Ingest transactions each process keeps in flight at once on PostgreSQL, "
        "each on its own connection: with 2, the next batch is written while the previous one "
        "commits (lower latency where commits are slow), at more CPU per webhook on a saturated "
        "server, since the transactions are smaller. SQLite always uses one.",
    )
    mobivate_base_url: str = Field(
        default="https://api.mobivatebulksms.com",
        description="Mobivate's API; point it at the fake Mobivate to try things locally.",
    )
    mobivate_api_key: SecretStr | None = Field(
        default=None,
        description="Your Mobivate API key. With it and `PUBLIC_BASE_URL` set, the service "
        "registers its webhook URLs with Mobivate at startup (see "
        "[Registering the webhooks](registration.md)). Never logged.",
    )
    mobivate_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of each call to Mobivate."
    )
    optout_contacts_proxy: bool = Field(
        default=False,
        description="`true` also pushes every opt-out and opt-in to Mobivate's contacts proxy "
        "(`applications=optouts:sms`), so a STOP reaches Mobivate's other applications too "
        "(see [Contacts proxy](optouts.md#contacts-proxy)); needs `MOBIVATE_USERNAME` and "
        "`MOBIVATE_PASSWORD`.",
    )
    mobivate_username: str | None = Field(
        default=None, description="Your Mobivate login, for the contacts proxy."
    )
    mobivate_password: SecretStr | None = Field(
        default=None,
        description="Your Mobivate password, for the contacts proxy (which takes it in the query "
        "string). Never logged, stored or shown in an error.",
    )
    mobivate_contacts_url: str = Field(
        default="https://tasks-wave.mobivate.com",
        description="The contacts proxy's own host (it is not `MOBIVATE_BASE_URL`).",
    )
    register_webhooks: bool = Field(
        default=True,
        description="`false` stops the service from registering its webhook URLs at startup "
        "(for URLs you manage by hand).",
    )
    registration_backoff_initial_seconds: float = Field(
        default=2.0,
        gt=0,
        description="First wait before retrying a registration Mobivate did not accept; it "
        "doubles per attempt, with jitter.",
    )
    registration_backoff_max_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Longest wait between registration attempts; also the wait after Mobivate "
        "refuses the API key.",
    )
    registration_fresh_seconds: float = Field(
        default=600.0,
        ge=0,
        description="A URL registered successfully less than this long ago, by any replica, is "
        "not registered again at startup; `0` registers at every start.",
    )
    event_time_tolerance_seconds: float = Field(
        default=300.0,
        ge=0,
        description="An opt-out, opt-in or help event whose time (Mobivate's, or an imported "
        "record's) is further ahead of the time the service received it is not trusted for "
        "ordering: the receipt time is used and the history entry says so (see [Time you can "
        "trust](optouts.md#time-you-can-trust)).",
    )
    optout_keywords: str | None = Field(
        default=None,
        description="Comma-separated replies that opt the sender out (see "
        "[Keywords](optouts.md#keywords)). Setting it replaces the whole list; empty means the "
        "default.",
    )
    optin_keywords: str | None = Field(
        default=None,
        description="Replies that opt the sender back in. Setting it replaces the whole list.",
    )
    help_keywords: str | None = Field(
        default=None,
        description="Replies recorded as help requests (answered only when `HELP_REPLY_TEXT` is "
        "set). Setting it replaces the whole list.",
    )
    help_reply_text: str | None = Field(
        default=None,
        max_length=918,
        description="When set, the text sent back to whoever texts a help keyword (see "
        "[Replies](optouts.md#help-and-stop-replies)): name the program, how to get help and how "
        "to opt out. Unset: no reply.",
    )
    stop_confirmation_text: str | None = Field(
        default=None,
        max_length=918,
        description="When set, the one message sent to a number that has just opted out by SMS, "
        "confirming it (see [Replies](optouts.md#help-and-stop-replies)). Unset: none.",
    )
    outbox_poll_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often each process looks for opt-out changes to push to Mobivate. A "
        "change made by this process is pushed at once; the poll picks up retries and changes "
        "made by other replicas.",
    )
    outbox_backoff_initial_seconds: float = Field(
        default=2.0,
        gt=0,
        description="First wait before retrying a push Mobivate did not take (unreachable, "
        "timeout, `5xx`, `429`); it doubles per attempt, with jitter.",
    )
    outbox_backoff_max_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Longest wait between retries of a push; also the wait after Mobivate "
        "refuses the API key.",
    )
    outbox_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a process may hold a push it is delivering; if it dies meanwhile, "
        "another process retries the push after this time.",
    )
    optout_sync_interval_minutes: float = Field(
        default=0.0,
        ge=0,
        description="When above 0, each process imports Mobivate's recent opt-outs at start and "
        "then at this interval (see [Importing Mobivate's list]"
        "(optouts.md#importing-mobivates-list)).",
        json_schema_extra={"shown_default": "0 (off)"},
    )
    optout_sync_page_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="Records per page when importing Mobivate's opt-out list (1 to 1000).",
    )
    default_region: str | None = Field(
        default=None,
        description="ISO 3166 alpha-2 code of the country whose national-form numbers "
        "(`07700 900123` with `GB`) the service may resolve; unset, every number needs its "
        "country code. Bare digits that read both as an international number and as a national "
        "number of this region are refused at send time (see [One identity per person]"
        "(optouts.md#one-identity-per-person)).",
        json_schema_extra={"shown_default": "unset"},
    )
    default_originator: str | None = Field(
        default=None,
        description="Sender id of messages that name none (see [Sending](sending.md)).",
    )
    default_route_id: str = Field(
        default="mglobal",
        min_length=1,
        max_length=64,
        description="Mobivate route of messages that name none.",
    )
    max_message_parts: int = Field(
        default=10,
        ge=1,
        le=255,
        description="Most SMS parts one message may need (10: 1,530 GSM-7 or 670 UCS-2 "
        "characters); a longer text gets `422` naming the limit.",
    )
    api_max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Largest request body the REST API reads (8 MiB: a batch of 10,000 "
        "messages of a few hundred characters); a larger one gets `413` naming the limit. "
        "Webhooks have their own, `MAX_BODY_BYTES`.",
    )
    batch_max_messages: int = Field(
        default=10_000, ge=1, description="Most messages in one `POST /api/v1/batches`."
    )
    batch_chunk_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="Messages per call to Mobivate's batch endpoint (Mobivate takes at most "
        "1,000). The opt-out registry is asked again before each call, so a smaller size "
        "protects more of a large batch from a STOP that arrives while it is being sent.",
    )
    batch_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a process holds a batch it is checking, or a call to Mobivate it "
        "is making, before another process may take the batch over or count the call's outcome "
        "as unknown (`submit_unknown`, never repeated). Keep it well above "
        "`MOBIVATE_TIMEOUT_SECONDS`.",
    )
    batch_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often every process looks for batches to check and calls to make that "
        "another process queued (its own wake it at once).",
    )
    idempotency_ttl_hours: float = Field(
        default=24.0, gt=0, description="How long an `Idempotency-Key` keeps its response."
    )
    idempotency_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a duplicate request waits for the first one to finish before `409`.",
    )
    idempotency_poll_seconds: float = Field(
        default=0.1, gt=0, description="How often it looks while waiting."
    )
    receipt_silence_minutes: float = Field(
        default=30.0,
        ge=0,
        description="When messages have waited this long for a delivery receipt and none has "
        "come (or receipts stop this long for a batch still sending), log a WARNING, raise "
        "`receipt_silence_alarm` and register the webhook URLs again (see [Receipts go silent]"
        "(registration.md#receipts-go-silent)); `0` turns the alarm off.",
    )
    hlr_batch_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Most numbers in one call to Mobivate's number lookup (`GET /hlr`); a longer "
        "list is split into several calls (see [Number lookups](lookups.md)).",
    )
    hlr_cache_hours: float = Field(
        default=24.0,
        ge=0,
        description="How long a definite lookup answer (reachable or not) is served without "
        "asking Mobivate again; `0` asks every time.",
    )
    hlr_daily_limit: int = Field(
        default=10_000,
        ge=0,
        description="Most numbers sent to Mobivate's lookup per UTC day, over every replica, so "
        "a loop cannot run up a bill; past it lookups get `429`, cached answers are still "
        "served. `0` allows cached answers only.",
    )
    reconcile_interval_minutes: float = Field(
        default=0.0,
        ge=0,
        description="When above 0, each process reconciles messages still not final at this "
        "interval (see [Reconciliation](sending.md#reconciliation)).",
        json_schema_extra={"shown_default": "0 (off)"},
    )
    reconcile_older_than_minutes: float = Field(
        default=360.0,
        gt=0,
        description="Scheduled reconciliation looks at messages submitted at least this long ago.",
    )
    reconcile_search_pages: int = Field(
        default=20,
        ge=0,
        description="Most pages (1,000 entries each) of Mobivate's message-log search one "
        "scheduled reconciliation reads to find batch messages that never got a receipt; `0` "
        "skips the search.",
    )
    event_stream_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        description="An idle live feed (`/api/v1/events/stream`) gets a `: keep-alive` comment "
        "this often, so proxies keep it open.",
    )
    event_stream_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the live feed looks for new events when no notification woke it.",
    )
    event_feed_retention_hours: float = Field(
        default=168.0,
        gt=0,
        description="How long live-feed entries are kept for clients resuming with "
        "`Last-Event-ID`.",
    )
    stats_rollup_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the figures of past hours are kept up to date for "
        "`/api/v1/stats` (PostgreSQL).",
    )
    webhook_auth_failures_per_minute: int = Field(
        default=20,
        ge=0,
        description="Wrong webhook secrets accepted from one client address per minute; further "
        "wrong ones get `429` (see [Authentication](webhooks.md#authentication)). `0` turns "
        "this off. A request with the right secret is never refused.",
    )
    spool_dir: Path = Field(
        default=Path("./data/spool"),
        description="Where webhook requests are kept on disk while the database is unreachable; "
        "compose mounts the `spool` volume at `/app/spool` (see "
        "[When the database is down](webhooks.md#when-the-database-is-down)).",
    )
    spool_max_bytes: int = Field(
        default=1024**3,
        ge=1024,
        description="Most bytes of webhook bodies one process keeps in its spool (1 GiB); past "
        "it, webhooks get `503`.",
    )
    spool_drain_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often a process with something in its spool checks whether the "
        "database is back.",
    )

    cors_allow_origins: str | None = Field(
        default=None,
        description="Comma-separated origins (e.g. `https://dash.example.com`) whose pages may "
        "call the REST API from a browser (CORS). Unset: none may; `*` is refused, as the API "
        "takes credentials. Browser pages open the live feed with a stream ticket "
        "(`POST /api/v1/events/stream-ticket`), never with the API token in a URL.",
    )
    stream_ticket_ttl_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a live-feed stream ticket can open a stream. A stream opened in "
        "time stays open; a browser that reconnects after that asks for a new ticket.",
    )
    subscription_allow_private: bool = Field(
        default=False,
        description="`true` lets subscriptions deliver to loopback, private and link-local "
        "addresses (see [Subscriptions](subscriptions.md)); off, such URLs are refused, so a "
        "subscriber cannot make the service call inside its own network.",
    )
    subscription_backoff_initial_seconds: float = Field(
        default=5.0,
        gt=0,
        description="First wait before sending again a delivery its subscriber did not take; it "
        "doubles per attempt, with jitter.",
    )
    subscription_backoff_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between attempts of a delivery."
    )
    subscription_retry_hours: float = Field(
        default=24.0,
        gt=0,
        description="A delivery still not taken this long after it was queued fails, and its "
        "subscription is disabled with the reason.",
    )
    subscription_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of each delivery to a subscriber."
    )
    subscription_poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often each process looks for deliveries to send (events stored by this "
        "process wake it at once).",
    )
    subscription_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a process may hold deliveries it is sending; if it dies meanwhile, "
        "another sends them after this time.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """`MAX_BODY_BYTES=` (as compose passes `${MAX_BODY_BYTES:-}`) means the default, except
        where an empty value is a mistake (DATABASE_URL, MOBIVATE_BASE_URL) or has a meaning of
        its own (FORWARDED_ALLOW_IPS: trust no proxy; ROOT_PATH: no prefix, the default)."""
        if isinstance(value, str) and not value.strip() and info.field_name not in _EMPTY_KEPT:
            raise PydanticUseDefault()
        return value

    @field_validator("public_base_url", "mobivate_base_url", "mobivate_contacts_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http(s) URL such as https://host, got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database_url(cls, value: str) -> str:
        value = value.strip()
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "is not a database URL; expected e.g. sqlite+aiosqlite:///./data/app.db or "
                "postgresql+asyncpg://user:password@host:5432/dbname"
            ) from None
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+asyncpg")
        if url.drivername not in SUPPORTED_DRIVERS:
            supported = ", ".join(f"{d}://" for d in SUPPORTED_DRIVERS)
            raise ValueError(f"driver {url.drivername!r} is not supported; use {supported}")
        if url.drivername == "postgresql+psycopg" and find_spec("psycopg") is None:
            raise ValueError(
                "driver 'postgresql+psycopg' needs psycopg: pip install 'psycopg[binary]'"
            )
        return url.render_as_string(hide_password=False)

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"{value!r} is not a region libphonenumber knows; use an ISO 3166 alpha-2 code "
                "such as GB, US or AU"
            )
        return code

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: str | None) -> str | None:
        if value is None:
            return None
        origins = [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        for origin in origins:
            parts = urlsplit(origin)
            if origin == "*":
                raise ValueError("'*' is not allowed: list the dashboards' origins")
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(
                    f"{origin!r} is not an origin; expected scheme://host[:port], "
                    "e.g. https://dash.example.com"
                )
        return ",".join(origins) or None

    @model_validator(mode="after")
    def _contacts_proxy_credentials(self) -> "Settings":
        if self.optout_contacts_proxy and not (self.mobivate_username and self.mobivate_password):
            raise ValueError(
                "OPTOUT_CONTACTS_PROXY=true needs MOBIVATE_USERNAME and MOBIVATE_PASSWORD "
                "(the contacts proxy signs in with them)"
            )
        return self

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> "Settings":
        if self.environment != "production":
            return self
        problems = []
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        if secret is not None and (
            secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_WEBHOOK_SECRET_LENGTH
        ):
            problems.append(
                f"WEBHOOK_SECRET looks like a placeholder (use at least "
                f"{MIN_WEBHOOK_SECRET_LENGTH} random characters, or unset it to generate one)"
            )
        if any(token.lower() in PLACEHOLDER_SECRETS for token in self.api_token_list):
            problems.append("API_TOKENS contains a placeholder token")
        if self.public_base_url and not self.public_base_url.startswith("https://"):
            problems.append(
                "PUBLIC_BASE_URL must use https:// (Mobivate requires HTTPS webhook URLs); "
                "set ENVIRONMENT=development to use http:// locally"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _parse_tokens(self) -> "Settings":
        tokens = parse_tokens(_secret(self.api_tokens), "API_TOKENS")
        read_only = parse_tokens(_secret(self.api_read_tokens), "API_READ_TOKENS")
        for token, scopes in read_only.items():
            if scopes != ALL_SCOPES:
                raise ValueError("API_READ_TOKENS: list bare tokens, without scopes")
            if token in tokens:
                raise ValueError("API_READ_TOKENS: a token is also listed in API_TOKENS")
            tokens[token] = frozenset({Scope.READ})
        self._token_scopes = tokens
        return self

    @property
    def api_token_scopes(self) -> dict[str, frozenset[Scope]]:
        """Every REST API token with its scopes (API_TOKENS and API_READ_TOKENS)."""
        return self._token_scopes

    @property
    def api_token_list(self) -> list[str]:
        return list(self.api_token_scopes)

    @property
    def cors_origin_list(self) -> list[str]:
        return self.cors_allow_origins.split(",") if self.cors_allow_origins else []

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret(value: SecretStr | None) -> str:
    return "" if value is None else value.get_secret_value()


@lru_cache
def get_settings() -> Settings:
    return Settings()
