"""A throwaway PostgreSQL cluster for fault tests: initdb in a temporary directory, served on a
free loopback port, so stopping or killing it harms nothing else. Run as the `postgres` user
when the tests run as root (PostgreSQL refuses to run as root)."""

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.core import migrate
from tests.support.ports import free_port

BIN_DIRS = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


def _binary(name: str) -> str | None:
    for directory in BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


class PgCluster:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._as_postgres, *command], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            log = (self.directory / "postgres.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip()}\n{log}")

    def _init(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise FileNotFoundError("initdb/pg_ctl not found")
        self._pg_ctl = pg_ctl
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip

    async def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c max_connections=100"
        )
        await asyncio.to_thread(
            self._run, self._pg_ctl, "start", "-D", str(self.data), "-w", "-t", "30",
            "-o", options, "-l", str(self.directory / "postgres.log"),
        )  # fmt: skip

    async def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects clients and shuts down cleanly; `immediate` is a crash."""
        await asyncio.to_thread(
            self._run, self._pg_ctl, "stop", "-D", str(self.data), "-w", "-t", "30", "-m", mode
        )

    async def migrate(self) -> None:
        await asyncio.to_thread(migrate.upgrade, self.url)


@asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[PgCluster]:
    if _binary("initdb") is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    directory = Path(tempfile.mkdtemp(prefix="mobivate-hooks-pg-"))
    cluster = PgCluster(directory, free_port())
    try:
        await asyncio.to_thread(cluster._init)
        await cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError, AttributeError, subprocess.SubprocessError):
            await cluster.stop("immediate")  # unless already stopped
        shutil.rmtree(directory, ignore_errors=True)
