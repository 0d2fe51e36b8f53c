"""The subscriptions, their deliveries and attempts, as the API reads and changes them.

A replay queues a subscription's deliveries made since a time again: each is sent once more with
the `webhook-id` it had (it is the same event, so a receiver that drops ids it has seen must let
a replay through on purpose) and gets a new retry period.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.errors import ServiceError
from app.core.tables import SUBSCRIPTION_ATTEMPTS as ATTEMPTS
from app.core.tables import SUBSCRIPTION_DELIVERIES as DELIVERIES
from app.core.tables import SUBSCRIPTIONS
from app.subscriptions import events, signing
from app.subscriptions.schemas import (
    AttemptOut,
    DeliveryOut,
    SubscriptionChange,
    SubscriptionCreate,
    SubscriptionOut,
)


class SubscriptionNotFound(ServiceError):
    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"no subscription with id {subscription_id}", status=404)


def subscription_out(row: Any) -> SubscriptionOut:
    values = dict(row._mapping)
    values["event_types"] = events.decode(values["event_types"])
    return SubscriptionOut.model_validate(values)


async def create(engine: AsyncEngine, request: SubscriptionCreate, url: str) -> tuple[Any, str]:
    now = utcnow()
    secret = signing.new_secret()
    values = {
        "url": url,
        "event_types": events.encode(request.event_types),
        "batch_id": request.batch_id,
        "originator": request.originator,
        "description": request.description,
        "secret": secret,
        "enabled": True,
        "created_at": now,
        "updated_at": now,
    }
    async with engine.begin() as conn:
        row = (
            await conn.execute(insert(SUBSCRIPTIONS).values(values).returning(SUBSCRIPTIONS))
        ).one()
    return row, secret


async def find(engine: AsyncEngine, subscription_id: int) -> Any:
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id))
        ).first()
    if row is None:
        raise SubscriptionNotFound(subscription_id)
    return row


async def all_subscriptions(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(SUBSCRIPTIONS).order_by(SUBSCRIPTIONS.c.id))).all())


async def change(
    engine: AsyncEngine, subscription_id: int, request: SubscriptionChange, url: str | None
) -> Any:
    values: dict[str, Any] = {
        name: getattr(request, name)
        for name in request.model_fields_set
        if name in ("batch_id", "originator", "description")
    }
    if url is not None:
        values["url"] = url
    if request.event_types is not None:
        values["event_types"] = events.encode(request.event_types)
    if request.enabled is True:
        values.update(enabled=True, disabled_reason=None, disabled_at=None)
    elif request.enabled is False:
        values.update(
            enabled=False, disabled_reason="disabled through the API", disabled_at=utcnow()
        )
    values["updated_at"] = utcnow()
    async with engine.begin() as conn:
        if request.enabled:
            # What waited while it was disabled gets a full retry period from now.
            await conn.execute(
                update(DELIVERIES)
                .where(
                    DELIVERIES.c.subscription_id == subscription_id,
                    DELIVERIES.c.state == "pending",
                )
                .values(
                    tries=0, queued_at=values["updated_at"], next_attempt_at=values["updated_at"]
                )
            )
        row = (
            await conn.execute(
                update(SUBSCRIPTIONS)
                .where(SUBSCRIPTIONS.c.id == subscription_id)
                .values(values)
                .returning(SUBSCRIPTIONS)
            )
        ).first()
    if row is None:
        raise SubscriptionNotFound(subscription_id)
    return row


async def remove(engine: AsyncEngine, subscription_id: int) -> None:
    async with engine.begin() as conn:
        gone = await conn.execute(
            delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id)
        )
        if not gone.rowcount:
            raise SubscriptionNotFound(subscription_id)
        await conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.subscription_id == subscription_id))
        await conn.execute(
            delete(DELIVERIES).where(DELIVERIES.c.subscription_id == subscription_id)
        )


async def rotate_secret(
    engine: AsyncEngine, subscription_id: int, overlap: timedelta
) -> tuple[str, datetime | None]:
    secret = signing.new_secret()
    now = utcnow()
    until = now + overlap if overlap > timedelta(0) else None
    async with engine.begin() as conn:
        changed = await conn.execute(
            update(SUBSCRIPTIONS)
            .where(SUBSCRIPTIONS.c.id == subscription_id)
            .values(
                secret=secret,
                previous_secret=SUBSCRIPTIONS.c.secret if until else None,
                previous_secret_until=until,
                updated_at=now,
            )
        )
    if not changed.rowcount:
        raise SubscriptionNotFound(subscription_id)
    return secret, until


async def replay(engine: AsyncEngine, subscription_id: int, since: datetime) -> int:
    await find(engine, subscription_id)
    now = utcnow()
    async with engine.begin() as conn:
        queued = await conn.execute(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.subscription_id == subscription_id, DELIVERIES.c.created_at >= since
            )
            .values(
                state="pending",
                tries=0,
                queued_at=now,
                next_attempt_at=now,
                claimed_until=None,
                delivered_at=None,
            )
        )
    return int(queued.rowcount)


async def deliveries(
    engine: AsyncEngine, subscription_id: int, state: str | None, before: int | None, limit: int
) -> list[DeliveryOut]:
    await find(engine, subscription_id)
    statement = select(DELIVERIES).where(DELIVERIES.c.subscription_id == subscription_id)
    if state is not None:
        statement = statement.where(DELIVERIES.c.state == state)
    if before is not None:
        statement = statement.where(DELIVERIES.c.id < before)
    async with engine.connect() as conn:
        rows = (await conn.execute(statement.order_by(DELIVERIES.c.id.desc()).limit(limit))).all()
    return [
        DeliveryOut(
            **{
                name: value
                for name, value in row._mapping.items()
                if name in DeliveryOut.model_fields
            },
            webhook_id=f"msg_{row.id}",
        ).model_copy(
            update={"next_attempt_at": row.next_attempt_at if row.state == "pending" else None}
        )
        for row in rows
    ]


async def attempts(
    engine: AsyncEngine,
    subscription_id: int,
    delivery_id: int | None,
    before: int | None,
    limit: int,
) -> list[AttemptOut]:
    await find(engine, subscription_id)
    statement = select(ATTEMPTS).where(ATTEMPTS.c.subscription_id == subscription_id)
    if delivery_id is not None:
        statement = statement.where(ATTEMPTS.c.delivery_id == delivery_id)
    if before is not None:
        statement = statement.where(ATTEMPTS.c.id < before)
    async with engine.connect() as conn:
        rows = (await conn.execute(statement.order_by(ATTEMPTS.c.id.desc()).limit(limit))).all()
    return [AttemptOut.model_validate(dict(row._mapping)) for row in rows]
