"""Re-parsing kept raw bodies that could not be parsed when they arrived (after a parser fix).

Each one goes through the same writer as live traffic, so de-duplication and every after-store
step apply; running it twice stores nothing twice. Items of an array that still cannot be parsed
are kept as an unparsed request of their own, as on arrival (`app.webhooks.intake`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import WebhookRequest
from app.mobivate.payloads import PayloadError, parse_webhook_items
from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import IngestRefused, IngestWriter, RawWebhook, keeps_rejected_items


@dataclass
class ReprocessReport:
    examined: int = 0
    stored: int = 0
    duplicates: int = 0
    still_unparsed: int = 0


async def reprocess_unparsed(
    engine: AsyncEngine,
    writer: IngestWriter,
    *,
    page_size: int = 500,
    progress: Callable[[ReprocessReport], None] | None = None,
) -> ReprocessReport:
    report = ReprocessReport()
    after: tuple[datetime, object] | None = None
    while True:
        query = (
            select(WebhookRequest)
            .where(WebhookRequest.outcome == "unparsed", WebhookRequest.truncated.is_(False))
            .order_by(WebhookRequest.received_at, WebhookRequest.id)
            .limit(page_size)
        )
        if after is not None:
            query = query.where(
                tuple_(WebhookRequest.received_at, WebhookRequest.id) > tuple_(*after)
            )
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return report
        for row in rows:
            report.examined += 1
            kind = WebhookKind(row.kind)
            raw = RawWebhook(
                kind=kind,
                received_at=row.received_at,
                body=row.body,
                content_type=row.content_type,
                client_addr=row.client_addr,
                body_size=row.body_size,
                id=row.id,
            )
            try:
                parsed = parse_webhook_items(kind, row.body, row.content_type)
            except PayloadError as exc:
                report.still_unparsed += 1
                if exc.message != row.error and not keeps_rejected_items(row.error):
                    async with engine.begin() as conn:
                        await conn.execute(
                            update(WebhookRequest)
                            .where(WebhookRequest.id == row.id)
                            .values(error=exc.message)
                        )
                continue
            try:
                result = await writer.restore(raw, parsed.events, parsed.rejected)
            except IngestRefused:
                report.still_unparsed += 1
                continue
            report.stored += result.stored
            report.duplicates += result.duplicates
        after = (rows[-1].received_at, rows[-1].id)
        if progress is not None:
            progress(report)
