"""Service settings, read from environment variables and an optional `.env` file."""

from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["production", "development"] = "production"
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1)
    webhook_secret: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    migrate_on_start: bool = True
    public_base_url: str | None = None
    api_tokens: SecretStr | None = None
    log_format: Literal["json", "text"] = "text"
    access_log: bool = True
    forwarded_allow_ips: str = "127.0.0.1"
    root_path: str = ""
    metrics_token: SecretStr | None = None
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    click_dedupe_window_seconds: int = Field(default=600, ge=1)
    ingest_max_batch: int = Field(default=500, ge=1)
    ingest_linger_ms: float = Field(default=2.0, ge=0, le=1000)
    mobivate_base_url: str = "https://api.mobivatebulksms.com"
    mobivate_api_key: SecretStr | None = None
    mobivate_timeout_seconds: float = Field(default=10.0, gt=0)
    register_webhooks: bool = True
    registration_backoff_initial_seconds: float = Field(default=2.0, gt=0)
    registration_backoff_max_seconds: float = Field(default=600.0, gt=0)
    registration_fresh_seconds: float = Field(default=600.0, ge=0)
    optout_keywords: str | None = None
    optin_keywords: str | None = None
    help_keywords: str | None = None
    outbox_poll_interval_seconds: float = Field(default=5.0, gt=0)
    outbox_backoff_initial_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=600.0, gt=0)
    outbox_lease_seconds: float = Field(default=120.0, gt=0)
    optout_sync_interval_minutes: float = Field(default=0.0, ge=0)
    optout_sync_page_size: int = Field(default=1000, ge=1, le=1000)
    default_originator: str | None = None
    default_route_id: str = Field(default="mglobal", min_length=1, max_length=64)
    batch_max_messages: int = Field(default=10_000, ge=1)
    idempotency_ttl_hours: float = Field(default=24.0, gt=0)
    idempotency_wait_seconds: float = Field(default=10.0, ge=0)
    idempotency_poll_seconds: float = Field(default=0.1, gt=0)
    reconcile_interval_minutes: float = Field(default=0.0, ge=0)
    reconcile_older_than_minutes: float = Field(default=360.0, gt=0)
    event_stream_keepalive_seconds: float = Field(default=15.0, gt=0)
    event_stream_poll_seconds: float = Field(default=1.0, gt=0)
    event_feed_retention_hours: float = Field(default=168.0, gt=0)
    stats_rollup_interval_seconds: float = Field(default=60.0, gt=0)
    webhook_auth_failures_per_minute: int = Field(default=20, ge=0)
    spool_dir: Path = Path("./data/spool")
    spool_max_bytes: int = Field(default=1024**3, ge=1024)
    spool_drain_interval_seconds: float = Field(default=1.0, gt=0)

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

    @field_validator("public_base_url", "mobivate_base_url")
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

    @property
    def api_token_list(self) -> list[str]:
        if self.api_tokens is None:
            return []
        return [t.strip() for t in self.api_tokens.get_secret_value().split(",") if t.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
