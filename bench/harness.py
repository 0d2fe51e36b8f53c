"""Plumbing for the webhook benchmark: a throwaway database, server processes, wrk, CPU counters."""

import asyncio
import contextlib
import json
import os
import resource
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
LUA_SCRIPT = REPO / "bench" / "webhooks.lua"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TICKS = os.sysconf("SC_CLK_TCK")
EVENT_TABLES = {"receipt": "receipts", "incoming": "incoming_messages", "click": "clicks"}


# --- database ---------------------------------------------------------------------------------


def create_database() -> str:
    name = f"bench_webhooks_{secrets.token_hex(4)}"

    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return name


def drop_database(name: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class StoredCounts:
    rows: dict[str, int]  # typed event rows per kind
    requests: dict[str, dict[str, int]]  # raw requests per kind and outcome
    transactions: int  # distinct transactions that wrote raw requests


def stored_counts(name: str) -> StoredCounts:
    async def run() -> StoredCounts:
        conn = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}")
        try:
            rows = {
                kind: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
                for kind, table in EVENT_TABLES.items()
            }
            requests: dict[str, dict[str, int]] = {kind: {} for kind in EVENT_TABLES}
            for record in await conn.fetch(
                "SELECT kind, outcome, count(*) AS n FROM webhook_requests GROUP BY 1, 2"
            ):
                requests.setdefault(record["kind"], {})[record["outcome"]] = int(record["n"])
            # Every batch is one transaction, so its rows share one xmin.
            query = "SELECT count(DISTINCT xmin::text::bigint) FROM webhook_requests"
            return StoredCounts(rows, requests, int(await conn.fetchval(query)))
        finally:
            await conn.close()

    return asyncio.run(run())


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_line(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in (env or {}).items())
    return (prefix + " " if prefix else "") + shlex.join(argv)


class Server:
    """A server process started in its own session, stopped with SIGTERM (SIGKILL if stuck)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log: Path,
        url: str = "",
        niceness: int = 0,
    ) -> None:
        self.name = name
        self.url = url
        self.argv = argv
        self.env = env
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_reniced(niceness),
        )

    def wait_ready(self, path: str, body: bytes | None = None, timeout: float = 60) -> None:
        url = self.url + path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:.0f}s")

    def pids(self) -> list[int]:
        """The server process and all its descendants (uvicorn's worker processes)."""
        found, pending = [], [self.process.pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            pending.extend(int(child) for child in children)
        return found

    def worker_pids(self) -> list[int]:
        return self.pids()[1:]

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in self.pids())

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _reniced(niceness: int) -> Any:
    """A preexec_fn giving the child (the leader of a new session) this nice value, or None.

    With the kernel's session autogroups, sessions share the CPU equally whatever the nice
    values of their processes, so the value goes to the session's autogroup too.
    """
    if not niceness:
        return None

    def renice() -> None:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(niceness))

    return renice


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores together."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def backend_pids(database: str) -> list[int]:
    """PostgreSQL server processes serving connections to `database`."""

    async def run() -> list[int]:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            query = "SELECT pid FROM pg_stat_activity WHERE datname = $1"
            return [int(r["pid"]) for r in await conn.fetch(query, database)]
        finally:
            await conn.close()

    return asyncio.run(run())


CPU_PARTS_METRIC = "process_cpu_part_seconds_total"
# The servers add their CPU accounting to their metrics once a second (app.core.cpu_parts).
CPU_PARTS_SETTLE = 1.3


def cpu_parts(server: "Server") -> dict[str, float]:
    """The server's CPU seconds by part (`http`, `app`) from its /metrics, all workers together;
    empty when it does not count them (CPU_ACCOUNTING off)."""
    try:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
            text = answer.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return {}
    parts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(CPU_PARTS_METRIC + "{"):
            part = line.split('part="', 1)[1].split('"', 1)[0]
            parts[part] = parts.get(part, 0.0) + float(line.rsplit(" ", 1)[1])
    return parts


def maps_library(pid: int, name: str) -> bool:
    """Whether the process has a shared library whose path contains `name` loaded."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@dataclass
class CpuSnapshot:
    machine_busy: float
    machine_total: float
    app: float
    database: dict[int, float]

    @classmethod
    def take(cls, server: "Server", database: str | None) -> "CpuSnapshot":
        busy, total = machine_busy_seconds()
        pids = backend_pids(database) if database else []
        return cls(busy, total, server.cpu_seconds(), {p: process_cpu_seconds(p) for p in pids})


# --- load generation ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    per_kind: dict[str, dict[str, Any]] = field(default_factory=dict)
    histogram: dict[int, float] = field(default_factory=dict)  # latency µs -> requests
    window: float = 0.0
    wrk_cpu: float = 0.0  # CPU seconds, all cores together
    server_cpu: float = 0.0  # every process of the server, all cores together
    server_parts: dict[str, float] = field(default_factory=dict)  # of server_cpu: http, app
    database_cpu: float = 0.0  # PostgreSQL backends serving the benchmark database
    machine_cpu: float = 0.0  # share of the whole machine that was busy
    elapsed_cpu: float = 0.0  # wall seconds x cores
    commands: list[str] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(result[name]) for result in self.per_kind.values())

    def errors(self) -> int:
        return sum(
            sum(v for k, v in r["errors"].items() if k != "status") + int(r["other"])
            for r in self.per_kind.values()
        )

    @property
    def other_cpu(self) -> float:
        """CPU seconds used by anything else on the machine (noise when it is large)."""
        used = self.machine_cpu * self.elapsed_cpu
        return max(0.0, used - self.wrk_cpu - self.server_cpu - self.database_cpu)

    @property
    def rate(self) -> float:
        return self.total("completed") / self.window if self.window else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds over all wrk processes together."""
        rank = p / 100 * sum(self.histogram.values())
        seen = 0.0
        for micros in sorted(self.histogram):
            seen += self.histogram[micros]
            if seen >= rank:
                return micros / 1000
        return 0.0


def split_connections(connections: int, mix: Mapping[str, float]) -> dict[str, int]:
    """Connections per kind adding up to `connections`, in proportion to the mix (largest
    remainder), at least one per kind while there are enough; with fewer connections than
    kinds, the largest shares get one each (1 connection: receipts only)."""
    ranked = sorted((kind for kind in mix if mix[kind] > 0), key=lambda k: -mix[k])
    kinds = ranked[:connections]
    total = sum(mix[kind] for kind in kinds)
    exact = {kind: connections * mix[kind] / total for kind in kinds}
    split = {kind: max(1, int(exact[kind])) for kind in kinds}
    while sum(split.values()) > connections:
        kind = max((k for k in kinds if split[k] > 1), key=lambda k: split[k] - exact[k])
        split[kind] -= 1
    for kind in sorted(kinds, key=lambda k: exact[k] - split[k], reverse=True):
        if sum(split.values()) >= connections:
            break
        split[kind] += 1
    return split


def run_load(
    base_url: str,
    secret: str,
    split: Mapping[str, int],
    seconds: float,
    redelivery: float,
    server: Server,
    database: str | None = None,
    tail: float = 2.0,
    niceness: int = 0,
) -> LoadResult:
    """One wrk process per kind, all at once; sending stops after `seconds`, answers drain."""
    send_until = time.time() + seconds
    duration = max(1, round(seconds + tail))
    result = LoadResult()
    processes: dict[str, subprocess.Popen[str]] = {}
    parts_before = cpu_parts(server)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = CpuSnapshot.take(server, database)
    for kind, connections in split.items():
        argv = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "-s",
            str(LUA_SCRIPT.relative_to(REPO)),
            f"{base_url}/webhooks/{secret}/{kind}",
            "--",
            kind,
            secrets.token_hex(4).upper(),
            f"{redelivery}",
            f"{send_until:.3f}",
        ]
        result.commands.append(command_line(argv))
        processes[kind] = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_reniced(niceness),
        )
    outputs = {kind: process.communicate()[0] for kind, process in processes.items()}
    after = CpuSnapshot.take(server, database)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.server_cpu = after.app - before.app
    if parts_before:
        time.sleep(CPU_PARTS_SETTLE)
        parts_after = cpu_parts(server)
        result.server_parts = {
            part: parts_after.get(part, 0.0) - seconds for part, seconds in parts_before.items()
        }
    result.database_cpu = sum(t - before.database.get(p, 0.0) for p, t in after.database.items())
    result.elapsed_cpu = after.machine_total - before.machine_total
    result.wrk_cpu = (after_children.ru_utime - before_children.ru_utime) + (
        after_children.ru_stime - before_children.ru_stime
    )
    result.machine_cpu = (after.machine_busy - before.machine_busy) / max(result.elapsed_cpu, 1e-9)
    first, last = float("inf"), 0.0
    for kind, output in outputs.items():
        line = next((x for x in output.splitlines() if x.startswith("BENCH_RESULT ")), None)
        if processes[kind].returncode != 0 or line is None:
            sys.stderr.write(output)
            raise RuntimeError(f"wrk for {kind} failed (exit {processes[kind].returncode})")
        data = json.loads(line.removeprefix("BENCH_RESULT "))
        quantiles = data.pop("latency_quantiles_us")
        for micros in quantiles:
            weight = int(data["completed"]) / len(quantiles)
            result.histogram[micros] = result.histogram.get(micros, 0.0) + weight
        result.per_kind[kind] = data
        if data["first_sent"]:
            first = min(first, data["first_sent"])
        last = max(last, data["last_answer"])
    result.window = max(last - first, 0.0) if first != float("inf") else 0.0
    return result
