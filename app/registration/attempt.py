"""One registration call to Mobivate and the record of its outcome."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateAuthError, MobivateError, MobivateRefused
from app.mobivate.vocabulary import WebhookKind
from app.registration import store


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: WebhookKind
    url: str
    state: store.State
    status_code: int | None
    message: str
    error: MobivateError | None = None


async def attempt(client: MobivateClient, kind: WebhookKind, url: str) -> Outcome:
    """One registration call, never raising for what Mobivate answered or failed to answer."""
    try:
        message = await client.register_webhook(kind, url)
    except MobivateAuthError as exc:
        return Outcome(kind, url, "unauthorized", exc.status_code, exc.message, exc)
    except MobivateRefused as exc:
        return Outcome(kind, url, "failed", exc.status_code, exc.message, exc)
    except MobivateError as exc:
        return Outcome(kind, url, "failed", getattr(exc, "status_code", None), str(exc), exc)
    return Outcome(kind, url, "registered", 200, message)


async def record(engine: AsyncEngine, outcome: Outcome, next_attempt_at: datetime | None) -> None:
    now = utcnow()
    if outcome.state == "registered":
        await store.record_success(
            engine, outcome.kind, outcome.message, status_code=outcome.status_code or 200, now=now
        )
    else:
        await store.record_failure(
            engine,
            outcome.kind,
            outcome.state,
            outcome.message,
            status_code=outcome.status_code,
            next_attempt_at=next_attempt_at,
            now=now,
        )


async def register_now(
    engine: AsyncEngine, client: MobivateClient, targets: dict[WebhookKind, str], account: str
) -> list[Outcome]:
    """Register each kind once, now, whatever the table says, and record each outcome. Stops at
    the first kind Mobivate could not be reached for."""
    await store.ensure_rows(engine, targets, utcnow())
    outcomes = []
    for kind, url in targets.items():
        now = utcnow()
        await store.claim(
            engine,
            kind,
            url,
            account,
            now=now,
            lease_until=now + timedelta(seconds=60),
            started_at=None,
            fresh_since=None,
        )
        outcome = await attempt(client, kind, url)
        await record(engine, outcome, None)
        outcomes.append(outcome)
        if outcome.error is not None and not isinstance(outcome.error, MobivateRefused):
            break
    return outcomes


async def register_again(
    engine: AsyncEngine,
    client: MobivateClient,
    targets: dict[WebhookKind, str],
    account: str,
    *,
    unless_since: datetime,
    lease: timedelta,
) -> list[Outcome]:
    """Register each kind again unless any instance registered it at or after `unless_since` or
    holds its claim now: among replicas noticing the same silence, one calls Mobivate per kind.
    Outcomes of the kinds this instance claimed."""
    await store.ensure_rows(engine, targets, utcnow())
    outcomes = []
    for kind, url in targets.items():
        now = utcnow()
        claimed = await store.claim(
            engine,
            kind,
            url,
            account,
            now=now,
            lease_until=now + lease,
            started_at=now,
            fresh_since=unless_since,
        )
        if claimed is None:
            continue
        outcome = await attempt(client, kind, url)
        await record(engine, outcome, None)
        outcomes.append(outcome)
    return outcomes
