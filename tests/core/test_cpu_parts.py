"""CPU_ACCOUNTING counts the CPU of tasks as `app` and the server's writes as `http`, and only
while it is on."""

import asyncio
import time
from typing import Any

from prometheus_client import REGISTRY

from app.core.cpu_parts import PARTS, cpu_accounting, timed_send
from tests.support.app import WEBHOOK_SECRET, make_settings, start_app
from tests.support.bodies import receipt


def counted(part: str) -> float:
    value = REGISTRY.get_sample_value("process_cpu_part_seconds_total", {"part": part})
    return value or 0.0


def burn(seconds: float) -> float:
    """Spends about `seconds` of this thread's CPU; returns what it spent."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        sum(range(1000))
    return time.thread_time() - start


async def test_a_tasks_cpu_is_counted_as_app_and_its_writes_as_http() -> None:
    written: list[Any] = []

    async def write(message: Any) -> None:
        written.append(message)
        spent["http"] = burn(0.03)

    spent: dict[str, float] = {}

    async def request() -> None:
        spent["app"] = burn(0.05)
        await timed_send(write)({"type": "http.response.body"})

    before = {part: counted(part) for part in ("app", "http")}
    async with cpu_accounting():
        await asyncio.get_running_loop().create_task(request())
    app = counted("app") - before["app"]
    http = counted("http") - before["http"]
    assert written == [{"type": "http.response.body"}]
    assert spent["app"] <= app < spent["app"] + 0.02
    assert spent["http"] <= http < spent["http"] + 0.01
    assert not PARTS.enabled


async def test_nothing_is_counted_without_it() -> None:
    """Not the tasks made before it was turned on, nor what was counted in an earlier run."""

    async def burning() -> None:
        burn(0.02)

    async with cpu_accounting():
        await asyncio.get_running_loop().create_task(burning())
    before = counted("app")
    await asyncio.get_running_loop().create_task(burning())
    async with cpu_accounting():
        pass
    assert counted("app") - before < 0.005


async def test_the_service_counts_its_requests_with_cpu_accounting(database_url: str) -> None:
    before = counted("app")
    settings = make_settings(database_url, cpu_accounting=True)
    async with start_app(settings) as running:
        for number in range(20):
            answer = await running.client.post(
                f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt(f"CC{number:02}")
            )
            assert answer.json() == {"status": "stored"}
        assert PARTS.enabled
    assert not PARTS.enabled
    assert counted("app") > before
