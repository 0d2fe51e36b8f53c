"""The configuration reference, generated from `app.config.Settings` when the site is built, so it
cannot drift from the code: `configuration.md` holds the line `<!-- settings-reference -->`, which
becomes one table per group below (variable, default, meaning). Each meaning is the field's
`description`; the default is the field's own, written as a person would set it, unless the field
says otherwise with `json_schema_extra={"shown_default": ...}`. A field in no group, or a group
naming a field that does not exist, stops the build."""

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from app.config import Settings
from app.optouts.keywords import DEFAULT_HELP, DEFAULT_OPT_IN, DEFAULT_OPT_OUT

MARKER = "<!-- settings-reference -->"
PAGE = "configuration.md"

# (heading, links to where the behaviour is described, fields in the order a reader meets them)
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Service and database",
        "[Operations](operations.md)",
        ("environment", "database_url", "database_pool_size", "migrate_on_start"),
    ),
    (
        "Webhooks and ingestion",
        "[Webhooks](webhooks.md)",
        (
            "webhook_secret",
            "public_base_url",
            "max_body_bytes",
            "click_dedupe_window_seconds",
            "ingest_max_batch",
            "ingest_linger_ms",
            "ingest_writers",
            "webhook_auth_failures_per_minute",
        ),
    ),
    (
        "Outage spool",
        "[When the database is down](webhooks.md#when-the-database-is-down)",
        ("spool_dir", "spool_max_bytes", "spool_drain_interval_seconds"),
    ),
    (
        "Mobivate and webhook registration",
        "[Registering the webhooks](registration.md)",
        (
            "mobivate_api_key",
            "mobivate_base_url",
            "mobivate_timeout_seconds",
            "register_webhooks",
            "registration_backoff_initial_seconds",
            "registration_backoff_max_seconds",
            "registration_fresh_seconds",
            "receipt_silence_minutes",
        ),
    ),
    (
        "Opt-outs",
        "[Opt-outs](optouts.md)",
        (
            "default_region",
            "event_time_tolerance_seconds",
            "optout_keywords",
            "optin_keywords",
            "help_keywords",
            "help_reply_text",
            "stop_confirmation_text",
            "outbox_poll_interval_seconds",
            "outbox_backoff_initial_seconds",
            "outbox_backoff_max_seconds",
            "outbox_lease_seconds",
            "optout_sync_interval_minutes",
            "optout_sync_page_size",
            "optout_contacts_proxy",
            "mobivate_username",
            "mobivate_password",
            "mobivate_contacts_url",
        ),
    ),
    (
        "Subscriptions",
        "[Subscriptions](subscriptions.md)",
        (
            "subscription_allow_private",
            "subscription_backoff_initial_seconds",
            "subscription_backoff_max_seconds",
            "subscription_retry_hours",
            "subscription_timeout_seconds",
            "subscription_poll_interval_seconds",
            "subscription_lease_seconds",
        ),
    ),
    (
        "Sending",
        "[Sending](sending.md)",
        (
            "default_originator",
            "default_route_id",
            "batch_max_messages",
            "batch_chunk_size",
            "batch_lease_seconds",
            "batch_poll_seconds",
            "max_message_parts",
            "idempotency_ttl_hours",
            "idempotency_wait_seconds",
            "idempotency_poll_seconds",
            "reconcile_interval_minutes",
            "reconcile_older_than_minutes",
            "reconcile_search_pages",
        ),
    ),
    (
        "Number lookups",
        "[Number lookups](lookups.md)",
        ("hlr_batch_size", "hlr_cache_hours", "hlr_daily_limit"),
    ),
    (
        "REST API and live feed",
        "[REST API](rest-api.md)",
        (
            "api_tokens",
            "api_max_body_bytes",
            "api_read_tokens",
            "api_docs",
            "event_stream_keepalive_seconds",
            "event_stream_poll_seconds",
            "event_feed_retention_hours",
            "stream_ticket_ttl_seconds",
            "cors_allow_origins",
            "stats_rollup_interval_seconds",
        ),
    ),
    (
        "Proxy, logs and metrics",
        "[Deployment](deployment.md) and [Operations](operations.md)",
        (
            "forwarded_allow_ips",
            "request_read_timeout_seconds",
            "max_connections",
            "root_path",
            "log_level",
            "log_format",
            "access_log",
            "metrics_token",
            "cpu_accounting",
        ),
    ),
)

# Defaults kept beside the code that applies them, not in Settings (None there means "these").
_DEFAULTS_ELSEWHERE = {
    "optout_keywords": DEFAULT_OPT_OUT,
    "optin_keywords": DEFAULT_OPT_IN,
    "help_keywords": DEFAULT_HELP,
}


def shown_default(name: str, field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown_default"), str):
        return str(extra["shown_default"])
    if name in _DEFAULTS_ELSEWHERE:
        return ",".join(_DEFAULTS_ELSEWHERE[name])
    value: Any = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return f"./{value}" if not value.is_absolute() else str(value)
    if value == "":
        return "empty"
    return str(value)


def _check_groups() -> None:
    grouped = [name for _, _, names in GROUPS for name in names]
    fields = list(Settings.model_fields)
    missing = sorted(set(fields) - set(grouped))
    unknown = sorted(set(grouped) - set(fields))
    repeated = sorted({name for name in grouped if grouped.count(name) > 1})
    if missing or unknown or repeated:
        raise ValueError(
            f"docs/hooks/settings_reference.py GROUPS: settings in no group {missing}, "
            f"names that are not settings {unknown}, names in two groups {repeated}"
        )
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    if undocumented:
        raise ValueError(f"settings without a description in app/config.py: {undocumented}")


def render_reference() -> str:
    """The Markdown that replaces the marker: a section and a table per group."""
    _check_groups()
    parts = []
    for heading, more, names in GROUPS:
        parts.append(f"## {heading}\n\nMore in {more}.\n")
        rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
        for name in names:
            field = Settings.model_fields[name]
            description = " ".join((field.description or "").split())
            rows.append(f"| `{name.upper()}` | `{shown_default(name, field)}` | {description} |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """mkdocs hook: fill in the reference on the configuration page."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its {MARKER} line")
    return markdown.replace(MARKER, render_reference())
