"""Debian's Prometheus server on a loopback port, scraping the service every second with the
shipped alert rules loaded: where the dashboard's and the rules' expressions are evaluated on
real samples."""

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.tools import require
from tests.support.waiting import eventually

ALERTS = REPO / "docs" / "deploy" / "prometheus" / "alerts.yml"


class Prometheus:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def query(self, expression: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as client:
            response = await client.get("/api/v1/query", params={"query": expression})
        body: dict[str, Any] = response.json()
        return body

    async def get(self, path: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as client:
            body: dict[str, Any] = (await client.get(path)).json()
        return body


@asynccontextmanager
async def prometheus(target: str, workdir: Path) -> AsyncIterator[Prometheus]:
    """Prometheus scraping `target` (host:port) as the job `mobivate-hooks`."""
    binary = require("prometheus", "prometheus")
    (workdir / "alerts.yml").write_text(ALERTS.read_text())
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [
            {"job_name": "mobivate-hooks", "static_configs": [{"targets": [target]}]}
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        binary, f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    log.close()
    server = Prometheus(f"http://127.0.0.1:{port}")

    async def ready() -> bool:
        if process.returncode is not None:
            raise AssertionError((workdir / "prometheus.log").read_text()[-2000:])
        try:
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                return (await client.get("/-/ready")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(ready, within=30, what="Prometheus starting", interval=0.1)
        yield server
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
