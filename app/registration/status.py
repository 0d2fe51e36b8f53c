"""What the service registers with Mobivate, and how each registration stands.

The registered URLs carry the webhook secret; everything shown from here has it masked.
"""

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.mobivate.vocabulary import WebhookKind
from app.registration import store
from app.webhooks.secret import mask_secret, webhook_urls


class RegistrationPlan(BaseModel):
    """The URLs to register (known whenever PUBLIC_BASE_URL is set), and why registration is off
    (`reason`), if it is."""

    targets: dict[WebhookKind, str]
    reason: str | None
    account: str | None

    @property
    def enabled(self) -> bool:
        return self.reason is None


def plan_registration(settings: Settings, secret: str) -> RegistrationPlan:
    base = settings.public_base_url
    targets = webhook_urls(base, secret) if base is not None else {}
    missing = [
        name
        for name, value in (
            ("MOBIVATE_API_KEY", settings.mobivate_api_key),
            ("PUBLIC_BASE_URL", base),
        )
        if value is None
    ]
    if not settings.register_webhooks:
        reason: str | None = "REGISTER_WEBHOOKS is false"
    elif missing:
        reason = f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"
    else:
        reason = None
    return RegistrationPlan(targets=targets, reason=reason, account=account_fingerprint(settings))


def account_fingerprint(settings: Settings) -> str | None:
    """Names the Mobivate account registrations are made with, so that a new API key or API
    address registers again: the first 16 hex digits of SHA-256 over MOBIVATE_BASE_URL and
    MOBIVATE_API_KEY (a long random key cannot be recovered from it)."""
    if settings.mobivate_api_key is None:
        return None
    material = f"{settings.mobivate_base_url}\n{settings.mobivate_api_key.get_secret_value()}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def mask_webhook_url(url: str) -> str:
    """The URL with its secret path segment (the one before the kind) masked."""
    parts = url.split("/")
    if len(parts) >= 3 and parts[-3] == "webhooks":
        parts[-2] = mask_secret(parts[-2])
    return "/".join(parts)


KindState = Literal["pending", "registered", "failed", "unauthorized", "disabled"]


class KindStatus(BaseModel):
    kind: WebhookKind
    url: str | None = Field(description="The URL registered or being registered, secret masked")
    current: bool = Field(
        description="Whether `url` is the URL this instance would register now, with the same "
        "MOBIVATE_BASE_URL and MOBIVATE_API_KEY"
    )
    state: KindState = Field(
        description="pending (not yet accepted), registered, failed (will retry), unauthorized "
        "(the API key was refused; retried slowly), disabled (registration is off and never ran)"
    )
    attempts: int = Field(description="Attempts in the latest round, the successful one included")
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    next_attempt_at: datetime | None = Field(description="No retry before this time")
    last_status_code: int | None = Field(description="Mobivate's HTTP status; null if unreached")
    mobivate_message: str | None = Field(description="Mobivate's message, or why it was unreached")
    updated_at: datetime | None


class RegistrationStatus(BaseModel):
    enabled: bool = Field(description="Whether this instance registers the webhooks at startup")
    reason: str | None = Field(description="Why registration is off, when it is")
    registrations: list[KindStatus]


async def registration_status(
    engine: AsyncEngine, settings: Settings, secret: str
) -> RegistrationStatus:
    plan = plan_registration(settings, secret)
    rows = await store.load_all(engine)
    kinds = []
    for kind in WebhookKind:
        row = rows.get(kind.value)
        target = plan.targets.get(kind)
        if row is None:
            kinds.append(
                KindStatus(
                    kind=kind,
                    url=mask_webhook_url(target) if target else None,
                    current=target is not None,
                    state="pending" if plan.enabled else "disabled",
                    attempts=0,
                    last_attempt_at=None,
                    last_success_at=None,
                    next_attempt_at=None,
                    last_status_code=None,
                    mobivate_message=None,
                    updated_at=None,
                )
            )
            continue
        kinds.append(
            KindStatus(
                kind=kind,
                url=mask_webhook_url(row.url),
                current=row.url == target and row.account == plan.account,
                state=row.state,
                attempts=row.attempts,
                last_attempt_at=row.last_attempt_at,
                last_success_at=row.last_success_at,
                next_attempt_at=row.next_attempt_at,
                last_status_code=row.last_status_code,
                mobivate_message=row.mobivate_message,
                updated_at=row.updated_at,
            )
        )
    return RegistrationStatus(enabled=plan.enabled, reason=plan.reason, registrations=kinds)


async def readiness_detail(engine: AsyncEngine, settings: Settings, secret: str) -> dict[str, Any]:
    """A compact, informational summary for /readyz: one line per kind."""
    status = await registration_status(engine, settings, secret)
    detail: dict[str, Any] = {"enabled": status.enabled}
    if status.reason:
        detail["reason"] = status.reason
    for kind in status.registrations:
        line: str = kind.state
        if kind.state in ("failed", "unauthorized"):
            code = f"HTTP {kind.last_status_code}: " if kind.last_status_code else ""
            line = f"{kind.state} ({code}{kind.mobivate_message})"
        detail[kind.kind.value] = line
    return detail
