"""`register-webhooks`, `check-mobivate` and `fake-mobivate`: exit codes and messages."""

import asyncio
import io
import os
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.mobivate import check_mobivate, register_webhooks
from app.fake_mobivate import FakeMobivate
from app.registration import store
from tests.support.app import WEBHOOK_SECRET
from tests.support.cli import run_cli
from tests.support.fake import fake_mobivate
from tests.support.ports import free_port
from tests.support.registration import (
    API_KEY,
    KINDS,
    PUBLIC_BASE_URL,
    expected_url,
    registration_calls,
    registration_settings,
)
from tests.support.service import wait_until_ready


@pytest.fixture
async def fake() -> AsyncIterator[FakeMobivate]:
    async with fake_mobivate(api_key=API_KEY) as fake:
        yield fake


class Output:
    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()


async def test_register_webhooks_registers_records_and_exits_0(
    database_url: str, fake: FakeMobivate, engine: AsyncEngine
) -> None:
    output = Output()
    code = await register_webhooks(
        registration_settings(database_url),
        transport=fake.transport(),
        out=output.out,
        err=output.err,
    )
    assert code == 0, output.err.getvalue()
    assert fake.webhooks == {kind: expected_url(kind) for kind in KINDS}
    lines = output.out.getvalue().splitlines()
    assert lines[0] == (
        "receipt   registered   https://hooks.example/sms/webhooks/tes…/receipt"
        "  (Mobivate: HTTP 200: Webhook updated successfully)"
    )
    assert WEBHOOK_SECRET not in output.out.getvalue()
    rows = await store.load_all(engine)
    assert {row.state for row in rows.values()} == {"registered"}


async def test_register_webhooks_registers_again_even_when_fresh(
    database_url: str, fake: FakeMobivate
) -> None:
    settings = registration_settings(database_url)
    for _ in range(2):
        assert await register_webhooks(settings, transport=fake.transport(), out=io.StringIO()) == 0
    assert len(registration_calls(fake)) == 6


async def test_register_webhooks_exits_1_with_mobivate_message_when_refused(
    database_url: str, fake: FakeMobivate, engine: AsyncEngine
) -> None:
    output = Output()
    settings = registration_settings(database_url, mobivate_api_key="wrong-key")
    code = await register_webhooks(
        settings, transport=fake.transport(), out=output.out, err=output.err
    )
    assert code == 1
    assert "Mobivate refused the receipt webhook: HTTP 401: Unauthorized" in output.err.getvalue()
    assert "wrong-key" not in output.out.getvalue() + output.err.getvalue()
    rows = await store.load_all(engine)
    assert {row.state for row in rows.values()} == {"unauthorized"}


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"mobivate_api_key": None}, "MOBIVATE_API_KEY"),
        ({"public_base_url": None}, "PUBLIC_BASE_URL"),
        ({"mobivate_api_key": None, "public_base_url": None}, "MOBIVATE_API_KEY and PUBLIC_BASE"),
    ],
)
async def test_register_webhooks_exits_2_when_a_setting_is_missing(
    database_url: str, fake: FakeMobivate, overrides: dict[str, object], missing: str
) -> None:
    output = Output()
    settings = registration_settings(database_url, **overrides)
    code = await register_webhooks(
        settings, transport=fake.transport(), out=output.out, err=output.err
    )
    assert code == 2
    assert f"cannot register webhooks: set {missing}" in output.err.getvalue()
    assert fake.requests == []


async def test_register_webhooks_exits_3_when_mobivate_is_unreachable(
    database_url: str, fake: FakeMobivate, engine: AsyncEngine
) -> None:
    fake.down = True
    output = Output()
    code = await register_webhooks(
        registration_settings(database_url),
        transport=fake.transport(),
        out=output.out,
        err=output.err,
    )
    assert code == 3
    assert "Mobivate could not be reached" in output.err.getvalue()
    receipt = (await store.load_all(engine))["receipt"]
    assert receipt.state == "failed"
    assert "unreachable" in (receipt.mobivate_message or "")


async def test_check_mobivate_exit_codes(database_url: str, fake: FakeMobivate) -> None:
    settings = registration_settings(database_url)
    output = Output()
    assert await check_mobivate(settings, transport=fake.transport(), out=output.out) == 0
    assert "accepted the API key" in output.out.getvalue()

    wrong = registration_settings(database_url, mobivate_api_key="wrong-key")
    assert await check_mobivate(wrong, transport=fake.transport(), err=output.err) == 1
    assert "Mobivate refused the API key: HTTP 401: Unauthorized" in output.err.getvalue()

    unset = registration_settings(database_url, mobivate_api_key=None)
    assert await check_mobivate(unset, transport=fake.transport(), err=output.err) == 2
    assert "set MOBIVATE_API_KEY" in output.err.getvalue()

    fake.down = True
    assert await check_mobivate(settings, transport=fake.transport(), err=output.err) == 3
    assert "wrong-key" not in output.out.getvalue() + output.err.getvalue()


async def test_commands_over_loopback_against_the_fake_mobivate_server(database_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MOBIVATE_", "PUBLIC_"))},
        "DATABASE_URL": database_url,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MOBIVATE_BASE_URL": base,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MOBIVATE_API_KEY": API_KEY,
        "REGISTRATION_BACKOFF_INITIAL_SECONDS": "0.05",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "fake-mobivate",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_until_ready(base, "/_fake/requests")
        async with httpx.AsyncClient(base_url=base) as http:
            code, out, err = await run_cli(env, "check-mobivate")
            assert (code, out) == (0, f"Mobivate at {base} accepted the API key\n")
            assert API_KEY not in err
            code, out, err = await run_cli(env, "register-webhooks")
            assert code == 0, err
            assert API_KEY not in out + err
            assert out.count("registered") == 3
            recorded = (await http.get("/_fake/requests")).json()
            registered = {r["path"]: r["json"]["url"] for r in recorded if r["method"] == "POST"}
            assert registered == {f"/webhooks/{kind}": expected_url(kind) for kind in KINDS}
            assert {r["headers"]["authorization"] for r in recorded} == {"********"}

            code, _, err = await run_cli({**env, "MOBIVATE_API_KEY": "wrong"}, "register-webhooks")
            assert code == 1
            assert "HTTP 401: Unauthorized" in err
    finally:
        server.terminate()
        await server.wait()
    code, _, err = await run_cli(env, "check-mobivate")
    assert code == 3
    assert "Mobivate could not be reached" in err
