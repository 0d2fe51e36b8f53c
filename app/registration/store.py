"""The `webhook_registrations` table: one row per webhook kind, claimed and updated atomically.

Every write here is one statement in its own transaction, so nothing is held open while Mobivate
is being called. The rule the claim enforces is described in app/registration/registrar.py.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import WebhookRegistration as R
from app.mobivate.vocabulary import WebhookKind

State = Literal["pending", "registered", "failed", "unauthorized"]


@dataclass(frozen=True, slots=True)
class Registration:
    kind: str
    url: str
    state: str
    attempts: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    next_attempt_at: datetime | None
    claimed_until: datetime | None
    last_status_code: int | None
    mobivate_message: str | None
    updated_at: datetime
    account: str | None

    def is_fresh(self, url: str, account: str, fresh_since: datetime) -> bool:
        """Registered with `url`, for `account`, at or after `fresh_since`."""
        return (
            self.state == "registered"
            and self.url == url
            and self.account == account
            and self.last_success_at is not None
            and self.last_success_at >= fresh_since
        )


_COLUMNS = [getattr(R, name) for name in Registration.__dataclass_fields__]


async def ensure_rows(
    engine: AsyncEngine, targets: Mapping[WebhookKind, str], now: datetime
) -> None:
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {"kind": kind.value, "url": url, "state": "pending", "attempts": 0, "updated_at": now}
        for kind, url in targets.items()
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(R).values(rows).on_conflict_do_nothing(index_elements=["kind"]))


async def claim(
    engine: AsyncEngine,
    kind: WebhookKind,
    url: str,
    account: str,
    *,
    now: datetime,
    lease_until: datetime,
    started_at: datetime | None,
    fresh_since: datetime | None,
) -> int | None:
    """Take the right to make the next attempt for `kind`; the attempt number, or None when
    another instance holds it, it is in a backoff wait, or it is freshly registered.

    `started_at=None, fresh_since=None` forces the claim (an operator's explicit request)."""
    conditions = [R.kind == kind.value]
    if fresh_since is not None:
        fresh = and_(
            R.state == "registered",
            R.url == url,
            R.account.is_not(None),
            R.account == account,
            R.last_success_at.is_not(None),
            R.last_success_at >= fresh_since,
        )
        in_flight = and_(R.claimed_until.is_not(None), R.claimed_until > now)
        conditions += [~fresh, ~in_flight]
    if started_at is not None:
        # A backoff counts only when the failure it follows was recorded after this instance
        # started: a restart may carry a corrected key or URL, so it tries at once.
        backing_off = and_(
            R.next_attempt_at.is_not(None), R.next_attempt_at > now, R.updated_at >= started_at
        )
        conditions.append(~backing_off)
    # A new URL or account, or renewing a registration: a new round, shown as pending. A retry
    # keeps showing the outcome of the attempt before it until this one ends.
    changed = or_(R.url != url, R.account.is_(None), R.account != account, R.state == "registered")
    new_round = changed if started_at is None else or_(changed, R.updated_at < started_at)
    statement = (
        update(R)
        .where(*conditions)
        .values(
            url=url,
            account=account,
            state=case((changed, "pending"), else_=R.state),
            attempts=case((new_round, 1), else_=R.attempts + 1),
            last_attempt_at=now,
            claimed_until=lease_until,
            updated_at=now,
        )
        .returning(R.attempts)
    )
    async with engine.begin() as conn:
        attempts = (await conn.execute(statement)).scalar_one_or_none()
    return attempts


async def record_success(
    engine: AsyncEngine, kind: WebhookKind, message: str, *, status_code: int, now: datetime
) -> None:
    await _update(
        engine,
        kind,
        state="registered",
        last_success_at=now,
        last_status_code=status_code,
        mobivate_message=message,
        next_attempt_at=None,
        updated_at=now,
    )


async def record_failure(
    engine: AsyncEngine,
    kind: WebhookKind,
    state: State,
    message: str,
    *,
    status_code: int | None,
    next_attempt_at: datetime | None,
    now: datetime,
) -> None:
    await _update(
        engine,
        kind,
        state=state,
        last_status_code=status_code,
        mobivate_message=message,
        next_attempt_at=next_attempt_at,
        updated_at=now,
    )


async def _update(engine: AsyncEngine, kind: WebhookKind, **values: object) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(R).where(R.kind == kind.value).values(claimed_until=None, **values)
        )


async def load(engine: AsyncEngine, kind: WebhookKind) -> Registration | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(*_COLUMNS).where(R.kind == kind.value))).one_or_none()
    return None if row is None else Registration(**row._mapping)


async def load_all(engine: AsyncEngine) -> dict[str, Registration]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*_COLUMNS))).all()
    return {row.kind: Registration(**row._mapping) for row in rows}
