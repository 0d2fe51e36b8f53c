"""The command-line tool as an operator runs it: a separate process with its own environment."""

import asyncio
import os
import sys
from pathlib import Path


async def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """`python -m app.cli ARGS`: its exit code, standard output and standard error (within a
    minute)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_command(database_url: str, *args: str) -> tuple[int, str, str]:
    """`python -m app.cli ARGS` against `database_url`, with a public base URL and without
    WEBHOOK_SECRET (the service then makes and keeps one of its own)."""
    env = {**os.environ, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": "https://sms.example/x"}
    env.pop("WEBHOOK_SECRET", None)
    return await run_cli(env, *args)
