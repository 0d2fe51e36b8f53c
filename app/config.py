"""Service settings, read from environment variables and an optional `.env` file."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/mobivate-hooks.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1)
    webhook_secret: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    migrate_on_start: bool = True
    public_base_url: str | None = None
    api_tokens: SecretStr | None = None
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    click_dedupe_window_seconds: int = Field(default=600, ge=1)
    ingest_max_batch: int = Field(default=500, ge=1)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if value == "" else value

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
