"""How every command fails: a database it cannot use is one line and exit 4 (never a traceback,
never the password), a port already taken is uvicorn's line and a non-zero exit."""

import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.fake import fake_mobivate_server
from tests.support.ports import free_port
from tests.support.service import mobivate_env

PASSWORD = "db-password-0123456789"

DATABASE_COMMANDS = [
    ["serve", "--port", "{free_port}"],
    ["migrate"],
    ["migrate", "base", "--downgrade"],
    ["webhook-urls"],
    ["reprocess"],
    ["register-webhooks"],
    ["reconcile"],
    ["purge", "--older-than", "30d"],
]


async def run(env: dict[str, str], *args: str, cwd: Path) -> tuple[int, str]:
    code, out, err = await run_cli(env, *args, cwd=cwd)
    return code, out + err


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOBIVATE_", "PUBLIC_"))}
    env.update(
        ENVIRONMENT="development",
        MOBIVATE_API_KEY="cli-failure-key",
        MOBIVATE_BASE_URL="http://127.0.0.1:9",
        PUBLIC_BASE_URL="https://sms.example",
        SPOOL_DIR=str(tmp_path / "spool"),
    )
    return env


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
async def test_an_unreachable_database_is_one_line_and_exit_4(
    command: list[str], closed_port: int, tmp_path: Path
) -> None:
    env = base_env(tmp_path)
    env["DATABASE_URL"] = f"postgresql+asyncpg://mh:{PASSWORD}@127.0.0.1:{closed_port}/mh"

    args = [str(free_port()) if arg == "{free_port}" else arg for arg in command]

    code, output = await run(env, *args, cwd=tmp_path)

    assert code == 4, output
    expected = f"database error at postgresql+asyncpg://mh:***@127.0.0.1:{closed_port}/mh: "
    assert expected + "ConnectionRefusedError" in output
    assert "Traceback" not in output
    assert PASSWORD not in output


async def test_a_database_without_the_schema_says_so(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/empty.db"}

    code, output = await run(env, "webhook-urls", cwd=tmp_path)

    assert code == 4
    assert "OperationalError: no such table" in output
    assert "`mobivate-hooks migrate`" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "command",
    [["serve", "--port", "0"], ["serve", "--workers", "0"], ["reconcile", "--limit", "0"]],
    ids=" ".join,
)
async def test_bad_arguments_are_usage_errors(command: list[str], tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/args.db"}

    code, output = await run(env, *command, cwd=tmp_path)

    assert code == 2
    assert f"usage: mobivate-hooks {command[0]}" in output
    assert not (tmp_path / "args.db").exists()


@pytest.mark.parametrize("command", ["serve", "fake-mobivate"])
async def test_a_port_already_taken_fails_the_command(command: str, tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/port.db"}
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()

        code, output = await run(env, command, "--port", str(port), cwd=tmp_path)

    assert code == 3
    assert "address already in use" in output


async def test_sync_optouts_reports_a_database_it_cannot_write_to(
    closed_port: int, tmp_path: Path
) -> None:
    database = f"postgresql+asyncpg://mh:{PASSWORD}@127.0.0.1:{closed_port}/mh"
    async with fake_mobivate_server() as mobivate:
        mobivate.fake.add_optout("447700900123", created=datetime.now(UTC) - timedelta(hours=1))
        env = {**base_env(tmp_path), **mobivate_env(mobivate, database)}

        code, output = await run(env, "sync-optouts", "--since", "2020-01-01", cwd=tmp_path)

    assert code == 4, output
    assert f"database error at postgresql+asyncpg://mh:***@127.0.0.1:{closed_port}/mh" in output
    assert "Traceback" not in output
    assert PASSWORD not in output
    assert "447700900123" not in output
