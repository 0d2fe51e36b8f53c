"""Stopping the service with live-feed streams open: each ends at once with a final `shutdown`
event, in-process and in a real `serve` process, which exits well within its grace period and
logs no traceback."""

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from tests.support.app import API_TOKEN, make_settings, start_app
from tests.support.bodies import receipt
from tests.support.service import service
from tests.support.sse import open_stream
from tests.support.webhooks import post_stored


async def test_closing_ends_every_open_stream_with_a_final_event(database_url: str) -> None:
    async with (
        start_app(make_settings(database_url)) as running,
        open_stream(running.app) as first,
        open_stream(running.app) as second,
    ):
        await post_stored(running.client, "receipt", receipt("S1"))
        stored = await first.next()
        assert (await second.next()).id == stored.id
        running.runtime.feed.close_streams()
        for stream in (first, second):
            final = await stream.next(within=2)
            assert final.event == "shutdown"
            assert final.id == stored.id
            assert "reconnect with Last-Event-ID" in final.data["detail"]
            await stream.nothing_more()


async def test_sigterm_ends_open_streams_at_once_without_a_traceback(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    async with service(tmp_path, env) as app:
        assert app.process is not None
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with (
            httpx.AsyncClient(base_url=app.base_url, headers=headers, timeout=30) as client,
            client.stream("GET", "/api/v1/events/stream") as stream,
        ):
            lines = stream.aiter_lines()
            assert await anext(lines) == "retry: 2000"
            started = time.monotonic()
            os.killpg(app.process.pid, signal.SIGTERM)
            rest = [line async for line in lines]
            ended_after = time.monotonic() - started
        assert "event: shutdown" in rest
        assert ended_after < 5
        await asyncio.wait_for(app.process.wait(), 10)
        assert time.monotonic() - started < 10
    log = app.log_tail()
    assert "Traceback" not in log
    assert "CancelledError" not in log
