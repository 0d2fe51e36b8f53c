"""The outage spool's file: durable, in arrival order, capped, one owner per file, and files
left by processes that are gone are found."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import RawWebhook
from app.webhooks.spool import SpoolFile, SpoolFull, adopt_orphans, open_own_spool


def raw(n: int, size: int = 10) -> RawWebhook:
    return RawWebhook(
        kind=WebhookKind.RECEIPT,
        received_at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC) + timedelta(seconds=n),
        body=b"x" * size,
        content_type="application/json",
        client_addr="203.0.113.7",
        body_size=size,
    )


async def test_entries_survive_reopening_in_arrival_order_with_everything_kept(
    tmp_path: Path,
) -> None:
    spool = await open_own_spool(tmp_path, max_bytes=10_000)
    posted = [raw(n) for n in range(5)]
    for item in posted:
        await spool.put(item)
    await spool.close()

    reopened = await open_own_spool(tmp_path, max_bytes=10_000)
    try:
        assert (reopened.entries, reopened.bytes) == (5, 50)
        assert reopened.oldest == posted[0].received_at
        entries = await reopened.first(10)
        assert [entry.raw for entry in entries] == posted
        await reopened.remove(entries[:2])
        assert [entry.raw for entry in await reopened.first(10)] == posted[2:]
        assert reopened.oldest == posted[2].received_at
    finally:
        await reopened.close()


async def test_a_put_past_the_cap_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    spool = await open_own_spool(tmp_path, max_bytes=25)
    try:
        await spool.put(raw(0))
        await spool.put(raw(1))
        with pytest.raises(SpoolFull):
            await spool.put(raw(2))
        assert (spool.entries, spool.bytes) == (2, 20)
    finally:
        await spool.close()


async def test_each_process_gets_its_own_file_and_finds_those_left_behind(
    tmp_path: Path,
) -> None:
    first = await open_own_spool(tmp_path, max_bytes=1000)
    second = await open_own_spool(tmp_path, max_bytes=1000)
    assert first.path != second.path
    await second.put(raw(0))
    found: list[SpoolFile] = []
    await adopt_orphans(tmp_path, first, found)
    assert found == []  # still held by its owner
    await second.close()  # its process is gone
    await adopt_orphans(tmp_path, first, found)
    [orphan] = found
    try:
        assert orphan.path == second.path
        assert [entry.raw.received_at for entry in await orphan.first(5)] == [raw(0).received_at]
    finally:
        await orphan.close()
        await first.close()
