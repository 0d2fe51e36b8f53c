"""`mobivate-hooks send-batch`: a campaign from a file, with a progress bar on a terminal and one
line otherwise, bad rows reported by line, and resumed after an interruption without sending
anything twice."""

import asyncio
import io
import os
from collections import Counter
from pathlib import Path

import httpx
import pytest

from app.cli.batches import run_send_batch
from app.config import Settings
from app.core.db import create_engine
from app.core.tables import Batch
from app.fake_mobivate import FakeMobivate
from tests.support.cli import run_cli
from tests.support.fake import FAKE_API_KEY, fake_mobivate, fake_mobivate_server
from tests.support.harness import sending_settings
from tests.support.rows import count_rows
from tests.support.waiting import eventually


def number(i: int) -> str:
    return f"4477009{i:05d}"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def numbers_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "numbers.csv"
    path.write_text("name,mobile\n" + "".join(f"n{i},+{number(i)}\n" for i in range(count)))
    return path


async def send(
    settings: Settings, path: Path, transport: httpx.AsyncBaseTransport, out: io.StringIO
) -> tuple[int, str, str]:
    err = io.StringIO()
    code = await run_send_batch(
        settings, file=path, text="Spring sale", transport=transport, out=out, err=err
    )
    return code, out.getvalue(), err.getvalue()


def sends(fake: FakeMobivate) -> Counter[str]:
    return Counter(message.recipient for message in fake.sent)


async def test_off_a_terminal_it_prints_one_line_and_reports_bad_rows_by_line(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text(
        f"name,mobile\nann,+{number(1)}\nbob,\n\ncat,07700 900123\ndan,{number(2)}\n"
        f"eve,+{number(1)}\n"
    )
    async with fake_mobivate() as fake:
        code, out, err = await send(
            sending_settings(database_url), path, fake.transport(), io.StringIO()
        )

    assert code == 0, err
    [line] = out.splitlines()
    assert line.endswith("submitted: 2 of 2 submitted, 0 not submitted, 2 left out")
    assert f"{path}:3: left out: no number in column 2" in err
    assert f"{path}:5: left out (invalid): messages[1].to: '07700 900123'" in err
    assert f"{path}:7: left out (duplicate): same number as messages[0]" in err
    assert sends(fake) == Counter([number(1), number(2)])
    [call] = [r for r in fake.requests if r.path == "/send/batch"]
    assert call.json["name"] == "numbers.csv"
    assert {item["text"] for item in call.json["recipients"]} == {"Spring sale"}


async def test_on_a_terminal_it_shows_a_progress_bar(database_url: str, tmp_path: Path) -> None:
    path = numbers_file(tmp_path, 5)
    settings = sending_settings(database_url, batch_chunk_size=2)
    async with fake_mobivate() as fake:
        code, out, err = await send(settings, path, fake.transport(), Terminal())

    assert code == 0, err
    assert "━" in out
    assert "5/5" in out
    assert out.rstrip().endswith("submitted: 5 of 5 submitted, 0 not submitted, 0 left out")


class Gate(httpx.AsyncBaseTransport):
    """Batch calls wait for the test's `release()`, one a call."""

    def __init__(self, fake: FakeMobivate) -> None:
        self._inner = fake.transport()
        self._open = asyncio.Semaphore(0)
        self.calls = 0

    def release(self, calls: int = 1) -> None:
        for _ in range(calls):
            self._open.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/send/batch":
            self.calls += 1
            await self._open.acquire()
        return await self._inner.handle_async_request(request)


async def test_run_again_after_an_interruption_it_continues_the_batch_sending_nothing_twice(
    database_url: str, tmp_path: Path
) -> None:
    path = numbers_file(tmp_path, 10)
    settings = sending_settings(database_url, batch_chunk_size=2)
    async with fake_mobivate() as fake:
        gate = Gate(fake)
        first = asyncio.create_task(send(settings, path, gate, io.StringIO()))
        gate.release(2)

        async def third_call() -> bool:
            return gate.calls >= 3

        await eventually(third_call, what="the third call")
        first.cancel()  # what Ctrl-C does: the call under way is finished first
        await asyncio.sleep(0.2)
        gate.release(1)
        with pytest.raises(asyncio.CancelledError):
            await first
        assert sum(sends(fake).values()) == 6

        code, out, err = await send(settings, path, fake.transport(), io.StringIO())

    assert code == 0, err
    assert "continuing batch" in err
    assert out.strip().endswith(
        "submitted: 10 of 10 submitted, 0 not submitted, 0 left out (continued)"
    )
    assert sends(fake) == Counter(number(i) for i in range(10))
    assert await count_rows_of(settings) == 1


async def count_rows_of(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        return await count_rows(engine, Batch)
    finally:
        await engine.dispose()


async def test_the_command_sends_a_file_through_the_fake_mobivate(
    database_url: str, tmp_path: Path
) -> None:
    path = numbers_file(tmp_path, 3)
    async with fake_mobivate_server() as server:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MOBIVATE_BASE_URL": server.base_url,
            "MOBIVATE_API_KEY": FAKE_API_KEY,
            "DEFAULT_ORIGINATOR": "Shop",
            "REGISTER_WEBHOOKS": "false",
        }
        code, out, err = await run_cli(env, "send-batch", "--file", str(path), "--text", "Hi")
        missing, _, missing_err = await run_cli(
            env, "send-batch", "--file", str(tmp_path / "none.csv"), "--text", "Hi"
        )

    assert code == 0, err
    [line] = out.splitlines()
    assert "submitted: 3 of 3 submitted" in line
    assert sends(server.fake) == Counter(number(i) for i in range(3))
    assert missing == 2
    assert "cannot read" in missing_err
