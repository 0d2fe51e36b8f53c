"""`GET /api/v1/stats`: delivery and engagement figures per hour or day; `GET
/api/v1/stats/funnel`: the delivery funnel of the last 24 hours, 7 days, or one batch."""

from datetime import datetime, timedelta
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from app.api.deps import EngineDep
from app.api.docs import ERRORS
from app.api.pagination import invalid
from app.core.db import utcnow
from app.core.tables import Batch
from app.core.times import ORJSON_UTC, StorableAwareDatetime
from app.stats.funnel import batch_funnel, window_funnel
from app.stats.queries import MAX_BUCKETS, bucket_count, window_stats
from app.stats.schemas import FunnelOut, StatsOut

router = APIRouter(tags=["statistics"])

DEFAULT_WINDOW = timedelta(days=7)


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: StorableAwareDatetime | None = Field(
        None, description="Start of the window (default: `until` minus 7 days)"
    )
    until: StorableAwareDatetime | None = Field(
        None, description="End of the window (default: now)"
    )
    bucket: Literal["hour", "day"] = Field("day", description="Bucket size, in UTC")

    @model_validator(mode="after")
    def _window(self) -> "StatsQuery":
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self

    def bounds(self) -> tuple[datetime, datetime]:
        until = self.until or utcnow()
        return self.since or until - DEFAULT_WINDOW, until


@router.get(
    "/stats",
    response_model=StatsOut,
    responses=ERRORS,
    summary="Delivery and engagement statistics",
    description="Messages sent, delivered, failed and pending, delivery rate, median time to "
    "delivery, clicks, unique clickers, click-through rate, incoming messages, opt-outs and "
    f"opt-ins, per hour or day (UTC) over [since, until), at most {MAX_BUCKETS} buckets, and in "
    "total. Messages count in the bucket they were created in, with their current status.",
)
async def get_stats(engine: EngineDep, query: Annotated[StatsQuery, Query()]) -> Response:
    since, until = query.bounds()
    if since >= until:
        raise invalid("since", "must be before `until` (now, by default)")
    if bucket_count(since, until, query.bucket) > MAX_BUCKETS:
        raise invalid(
            "bucket", f"the window has more than {MAX_BUCKETS} buckets; use day or narrow it"
        )
    stats = await window_stats(engine, since, until, query.bucket)
    # Already in the documented shape (StatsOut); serialised directly, as hourly windows have
    # hundreds of buckets.
    body = orjson.dumps(
        {
            "since": stats.since,
            "until": stats.until,
            "bucket": stats.bucket,
            "totals": vars(stats.totals),
            "buckets": stats.buckets,
        },
        option=ORJSON_UTC,
    )
    return Response(body, media_type="application/json")


FUNNEL_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


@router.get(
    "/stats/funnel",
    response_model=FunnelOut,
    responses=ERRORS,
    summary="The delivery funnel of the last 24 hours, 7 days, or one batch",
    description="How far the messages got: sent, accepted (reported on by Mobivate), "
    "delivered, failed, expired, still pending, and the clicks, replies and opt-outs that "
    "followed. Give `window` (messages created in the last 24 hours or 7 days) or `batch_id`.",
)
async def get_funnel(
    engine: EngineDep,
    window: Annotated[Literal["24h", "7d"] | None, Query(description="24h or 7d")] = None,
    batch_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Our id of a batch")
    ] = None,
) -> FunnelOut:
    if (window is None) == (batch_id is None):
        raise invalid("window", "give either `window` (24h or 7d) or `batch_id`")
    until = utcnow()
    if batch_id is not None:
        async with engine.connect() as conn:
            created_at = await conn.scalar(select(Batch.created_at).where(Batch.id == batch_id))
        if created_at is None:
            raise HTTPException(404, f"no batch with id {batch_id}")
        funnel = await batch_funnel(engine, batch_id, created_at)
        since = created_at
    else:
        assert window is not None
        since = until - FUNNEL_WINDOWS[window]
        funnel = await window_funnel(engine, since, until)
    return FunnelOut(window=window, batch_id=batch_id, since=since, until=until, **vars(funnel))
