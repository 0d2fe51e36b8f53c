"""Slow and idle clients, against the service as an operator runs it (`serve`, a real uvicorn on
a free port): 300 connections that never finish their headers do not keep a webhook from being
answered, and a client too slow with its headers or body is cut off."""

import asyncio
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Receipt, WebhookRequest
from tests.support.app import WEBHOOK_SECRET
from tests.support.bodies import receipt
from tests.support.figures import record
from tests.support.rows import count_rows
from tests.support.service import ServiceProcess, service

SLOW_CONNECTIONS = 300
PARTIAL_HEADERS = f"POST /webhooks/{WEBHOOK_SECRET}/receipt HTTP/1.1\r\nHost: x\r\n".encode()

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_slow(app: ServiceProcess, count: int) -> list[Connection]:
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(PARTIAL_HEADERS)
        await writer.drain()
        connections.append((reader, writer))
    return connections


async def closed_by_the_server(connections: list[Connection]) -> int:
    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            return await asyncio.wait_for(reader.read(), 0.05) is not None
        except TimeoutError:
            return False

    return sum(await asyncio.gather(*(closed(reader) for reader, _ in connections)))


async def close_all(connections: list[Connection]) -> None:
    for _, writer in connections:
        writer.close()


async def test_300_slow_connections_do_not_keep_a_webhook_waiting(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "MAX_CONNECTIONS": "100",
        "REQUEST_READ_TIMEOUT_SECONDS": "10",
    }
    async with service(tmp_path, env) as app:
        slow = await open_slow(app, SLOW_CONNECTIONS)
        try:
            async with app.client() as mobivate:
                started = time.perf_counter()
                answer = await mobivate.post(
                    f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt("SLOW1"), timeout=5
                )
                elapsed = time.perf_counter() - started
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"status": "stored"}
            # The cap held: the oldest idle connections were closed to make room.
            assert await closed_by_the_server(slow) >= SLOW_CONNECTIONS - 100
        finally:
            await close_all(slow)
    record(
        f"slow clients: {SLOW_CONNECTIONS} connections with unfinished headers, MAX_CONNECTIONS="
        f"100: a webhook answered 200 in {elapsed * 1000:.0f} ms"
    )
    assert await count_rows(engine, Receipt) == 1


async def test_a_client_too_slow_with_its_headers_or_body_is_cut_off(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "REQUEST_READ_TIMEOUT_SECONDS": "1"}
    async with service(tmp_path, env) as app:
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(PARTIAL_HEADERS)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"REQUEST_READ_TIMEOUT_SECONDS" in answer
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(
            PARTIAL_HEADERS + b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
        )
        await writer.drain()
        started = time.perf_counter()
        for _ in range(40):  # one byte every 0.1 s: 500 bytes would take 50 s
            if reader.at_eof():
                break
            writer.write(b" ")
            try:
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.1)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        assert time.perf_counter() - started < 4
        writer.close()

        async with app.client() as mobivate:
            fine = await mobivate.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt("OK"))
        assert fine.json() == {"status": "stored"}
    assert await count_rows(engine, WebhookRequest) == 1
