"""What becomes of one webhook request: parsed events to store, or a raw body kept as unparsed
with the 4xx to answer. Shared by live requests and by replays from the outage spool, so both
go through the same parsing, de-duplication and opt-out handling.

In a JSON array, one item that cannot be parsed does not cost the others: the good items are
stored (and every after-store step applies to them), the rejected ones are kept together as one
unparsed request of their own, with each item's reason, and the answer lists them."""

from dataclasses import dataclass

from app.mobivate.payloads import ParsedEvent, PayloadError, RejectedItem, parse_webhook_items
from app.webhooks.ingest import IngestResult, IngestWriter, RawWebhook, RequestOutcome


@dataclass(frozen=True, slots=True)
class Intake:
    events: list[ParsedEvent] | None
    status_code: int = 200
    error: str | None = None
    outcome: RequestOutcome = "stored"
    rejected: tuple[RejectedItem, ...] = ()


def examine(raw: RawWebhook, max_body_bytes: int) -> Intake:
    if raw.truncated:
        detail = (
            f"body of {raw.body_size} bytes is over the limit of {max_body_bytes} bytes "
            "(MAX_BODY_BYTES)"
        )
        return Intake(None, 413, detail, "too_large")
    try:
        parsed = parse_webhook_items(raw.kind, raw.body, raw.content_type)
    except PayloadError as exc:
        return Intake(None, exc.status_code, exc.message, "unparsed")
    return Intake(parsed.events, rejected=parsed.rejected)


async def store(writer: IngestWriter, raw: RawWebhook, intake: Intake) -> IngestResult:
    """Raises IngestUnavailable (nothing stored) or IngestRefused (kept as unparsed)."""
    if intake.events is None:
        assert intake.error is not None
        return await writer.store_unparsed(raw, intake.error, intake.outcome)
    return await writer.store(raw, intake.events, intake.rejected)
