"""`mobivate-hooks serve` for real: migrations on start, uvicorn on loopback, a webhook stored."""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.core.db import create_engine
from tests.support.app import WEBHOOK_SECRET
from tests.support.bodies import receipt
from tests.support.metrics import metric_value
from tests.support.ports import free_port
from tests.support.rows import stored_receipts
from tests.support.service import service, wait_until_ready
from tests.support.waiting import eventually
from tests.support.webhooks import webhook_url


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/served.db",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_ready(base_url)
        yield base_url
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        # uvicorn finishes in-flight requests and the lifespan, then re-raises SIGTERM.
        assert process.returncode in (0, -15)
        assert b"Application shutdown complete" in stderr


async def test_serve_migrates_then_stores_webhooks_over_http(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        response = await client.post(webhook_url("receipt"), json=receipt("9A85B95E"))
        assert response.status_code == 200
        assert response.json() == {"status": "stored"}
        again = await client.post(webhook_url("receipt"), json=receipt("9A85B95E"))
        assert again.json() == {"status": "duplicate"}


async def test_openapi_describes_webhooks_and_probes(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        schema = (await client.get("/openapi.json")).json()
    for kind in ("receipt", "incoming", "click"):
        operation = schema["paths"][f"/webhooks/{{secret}}/{kind}"]["post"]
        assert {"200", "400", "404", "413", "415", "422"} <= set(operation["responses"])
    assert "/healthz" in schema["paths"]
    assert "/readyz" in schema["paths"]


async def wait_for_webhooks_in_progress(base_url: str, count: int) -> None:
    """Until the server itself reports `count` webhooks received and not yet answered."""
    async with httpx.AsyncClient(base_url=base_url) as client:

        async def in_progress() -> bool:
            text = (await client.get("/metrics")).text
            return metric_value(text, "webhook_requests_in_progress") == count

        await eventually(in_progress, within=20, what="the webhooks in progress", interval=0.02)


async def test_sigterm_answers_and_commits_the_webhooks_in_flight(
    database_url: str, tmp_path: Path
) -> None:
    """A one-second linger holds the webhooks in the ingest writer when SIGTERM arrives: each
    must still be answered 200 and stored before the process exits."""
    count = 20
    env = {"DATABASE_URL": database_url, "INGEST_LINGER_MS": "1000"}
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with (
        service(tmp_path, env) as process,
        httpx.AsyncClient(base_url=process.base_url, limits=limits, timeout=30) as client,
    ):
        # Open every connection first, so the posts below reach the server at once.
        await asyncio.gather(*(client.get("/healthz") for _ in range(count)))
        keys = [f"DRAIN{index:04d}" for index in range(count)]
        posts = [
            asyncio.create_task(client.post(webhook_url("receipt"), json=receipt(key)))
            for key in keys
        ]
        await wait_for_webhooks_in_progress(process.base_url, count)
        assert not any(post.done() for post in posts), "answered before the linger ended"
        await process.stop()
        answers = await asyncio.gather(*posts)

    assert process.process is not None
    assert process.process.returncode in (0, -15), process.log_tail()
    assert [answer.status_code for answer in answers] == [200] * count
    assert [answer.json() for answer in answers] == [{"status": "stored"}] * count
    engine = create_engine(database_url)
    try:
        assert await stored_receipts(engine, set(keys)) == dict.fromkeys(keys, 1)
    finally:
        await engine.dispose()
