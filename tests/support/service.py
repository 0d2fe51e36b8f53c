"""The service as an operator runs it: `python -m app.cli serve` in a process of its own."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from tests.support.app import API_TOKEN, WEBHOOK_SECRET
from tests.support.fake import FAKE_API_KEY, FakeMobivateServer
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.waiting import eventually


class ServiceProcess:
    """`python -m app.cli serve` with the given environment, on its own port."""

    def __init__(self, workdir: Path, env: dict[str, str], *, workers: int = 1) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "API_TOKENS": API_TOKEN,
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            "MIGRATE_ON_START": "false",
            "SPOOL_DIR": str(workdir / "spool"),
            "SPOOL_DRAIN_INTERVAL_SECONDS": "0.2",
            "REGISTER_WEBHOOKS": "false",
            "PYTHONPATH": str(REPO),  # the code under test, wherever the package is installed from
            **env,
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        log = (self.workdir / f"service-{self.port}-{self.starts}.log").open("wb")
        command = ["-m", "app.cli", "serve", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *command, env=self.env, cwd=self.workdir, stderr=log, stdout=log,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        await self.wait_until_up()

    async def wait_until_up(self, within: float = 60) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as client:

            async def up() -> bool:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"service exited: {self.log_tail()}")
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, within=within, what="the service answering", interval=0.1)

    async def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no flush, nothing."""
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            await self.kill()

    def log_tail(self) -> str:
        logs = sorted(self.workdir.glob(f"service-{self.port}-*.log"))
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in logs)

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


@asynccontextmanager
async def service(
    workdir: Path, env: dict[str, str], **kwargs: Any
) -> AsyncIterator[ServiceProcess]:
    process = ServiceProcess(workdir, env, **kwargs)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


def mobivate_env(fake: FakeMobivateServer, database: str, **extra: str) -> dict[str, str]:
    """The environment of a service using `database` and calling the fake Mobivate server."""
    return {
        "DATABASE_URL": database,
        "MOBIVATE_BASE_URL": fake.base_url,
        "MOBIVATE_API_KEY": FAKE_API_KEY,
        "MOBIVATE_TIMEOUT_SECONDS": "2",
        "OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "OUTBOX_BACKOFF_INITIAL_SECONDS": "0.2",
        "OUTBOX_BACKOFF_MAX_SECONDS": "1",
        **extra,
    }


async def wait_until_ready(base_url: str, path: str = "/readyz", *, within: float = 30) -> None:
    """Until the server at `base_url` answers `path` with 200."""
    async with httpx.AsyncClient(base_url=base_url) as client:

        async def answered() -> bool:
            try:
                return (await client.get(path)).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answered, within=within, what=f"{base_url}{path} answering", interval=0.2)
