"""Bodies of the statistics: `GET /api/v1/stats` and the figures of one batch."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Figures(BaseModel):
    sent: int = Field(description="Messages created in the bucket and accepted by Mobivate")
    delivered: int = Field(description="Of those, now DELIVERED")
    failed: int = Field(description="Of those, now in another final status")
    pending: int = Field(description="Of those, not final yet")
    delivery_rate: float | None = Field(description="delivered / sent")
    median_seconds_to_delivery: float | None = Field(
        description="Median of delivered_at - submitted_at over the delivered ones"
    )
    p90_seconds_to_delivery: float | None = Field(
        description="90th percentile of the same (interpolated, as percentile_cont)"
    )
    p95_seconds_to_delivery: float | None = Field(
        description="95th percentile of the same (interpolated, as percentile_cont)"
    )
    clicks: int
    unique_clickers: int = Field(description="Distinct numbers that clicked")
    click_through_rate: float | None = Field(description="unique_clickers / delivered")
    incoming: int = Field(description="Incoming messages (replies)")
    opt_outs: int
    opt_ins: int


class BucketFigures(Figures):
    start: datetime = Field(description="Start of the hour or day (UTC)")


_FIGURES_EXAMPLE: dict[str, Any] = {
    "sent": 1200,
    "delivered": 1150,
    "failed": 30,
    "pending": 20,
    "delivery_rate": 0.9583,
    "median_seconds_to_delivery": 4.2,
    "p90_seconds_to_delivery": 31.5,
    "p95_seconds_to_delivery": 58.0,
    "clicks": 140,
    "unique_clickers": 121,
    "click_through_rate": 0.1052,
    "incoming": 37,
    "opt_outs": 3,
    "opt_ins": 0,
}


class StatsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "since": "2026-11-21T00:00:00Z",
                    "until": "2026-11-22T00:00:00Z",
                    "bucket": "day",
                    "totals": _FIGURES_EXAMPLE,
                    "buckets": [{"start": "2026-11-21T00:00:00Z", **_FIGURES_EXAMPLE}],
                }
            ]
        }
    )

    since: datetime
    until: datetime
    bucket: Literal["hour", "day"]
    totals: Figures
    buckets: list[BucketFigures] = Field(description="Every bucket of the window, oldest first")


class FunnelOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "window": "24h",
                    "batch_id": None,
                    "since": "2026-11-21T09:15:00Z",
                    "until": "2026-11-22T09:15:00Z",
                    "sent": 1200,
                    "accepted": 1185,
                    "delivered": 1150,
                    "failed": 18,
                    "expired": 12,
                    "pending": 20,
                    "clicks": 140,
                    "replies": 37,
                    "opt_outs": 3,
                }
            ]
        }
    )

    window: Literal["24h", "7d"] | None = Field(description="The window asked for, if any")
    batch_id: int | None = Field(description="The batch asked for, if any")
    since: datetime | None = Field(description="Start of the window (a batch: its creation)")
    until: datetime = Field(description="End of the window: when the figures were taken")
    sent: int = Field(description="Messages Mobivate took")
    accepted: int = Field(description="Of those, the ones Mobivate has reported on since")
    delivered: int = Field(description="Now DELIVERED")
    failed: int = Field(description="Now in a final status other than DELIVERED or EXPIRED")
    expired: int = Field(description="Now EXPIRED")
    pending: int = Field(description="Sent and not final yet")
    clicks: int = Field(description="Clicks on these messages' short URLs")
    replies: int = Field(description="Incoming messages in reply to these messages")
    opt_outs: int = Field(
        description="Window: opt-outs registered in it; batch: its recipients who opted out "
        "after it was created"
    )
