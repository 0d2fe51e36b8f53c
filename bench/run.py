"""Webhook ingestion benchmark: the service against a reference endpoint, in one invocation.

    .venv/bin/python bench/run.py --duration 20 --connections 32 --workers 2 [--driver psycopg]

1. Creates a throwaway PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth).
2. Starts the reference app (bench/reference_app.py: FastAPI, parses, stores nothing) with
   uvicorn and N workers, warms it up, loads it with wrk, stops it.
3. Starts the service (`mobivate-hooks serve --workers N`, migrations applied on start), warms
   it up, loads it the same way, stops it.
4. Checks that every acknowledged request was stored: per kind, event rows == "stored" answers,
   raw requests == answers, "duplicate" requests == "duplicate" answers (warm-up included).
5. Prints requests/s, p50, p99, errors, non-2xx, CPU use and the service/reference ratio, then
   drops the database.

Load: one wrk process per kind (bench/webhooks.lua), connections split by the mix (default 80 %
receipts, 10 % incoming messages, 10 % clicks), each request a fresh event except a fraction of
exact redeliveries. Exit status 0 when the check passes and nothing failed, 1 otherwise.
"""

import argparse
import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from harness import (
    EVENT_TABLES,
    LoadResult,
    Server,
    command_line,
    create_database,
    drop_database,
    free_port,
    run_load,
    split_connections,
    stored_counts,
)

RECEIPT = (
    b'{"deliveryMessageId":"9A85B95E0A000A9D2FBD46710388AD54","batchId":"9A85B9110A000A9D2FBD'
    b'4671D691C328","clientReference":null,"created":"2023-07-28T03:23:22.000+00:00","status":'
    b'"ACCEPTED","statusCode":2,"parts":1,"hlr":null}'
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per app")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per app")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--driver", choices=["asyncpg", "psycopg"], default="asyncpg")
    parser.add_argument("--redelivery", type=float, default=0.03, help="share of exact repeats")
    parser.add_argument(
        "--mix", default="receipt=0.8,incoming=0.1,click=0.1", help="share of each kind"
    )
    parser.add_argument("--skip-reference", action="store_true", help="run the service only")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        metavar="N",
        help="nice value for the servers and wrk, e.g. -10 to put them ahead of other work on "
        "a shared machine (negative values need root; PostgreSQL is left as it is)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="profile each service worker with py-spy during the measured run: collapsed "
        "stacks in PREFIX-<pid>.txt (for speedscope or flamegraph.pl)",
    )
    return parser.parse_args()


def measure(
    server: Server, args: argparse.Namespace, secret: str, database: str | None = None
) -> list[LoadResult]:
    split = split_connections(args.connections, mix_of(args.mix))
    base = server.url
    runs = []
    load = {"server": server, "database": database, "niceness": args.nice}
    if args.warmup > 0:
        runs.append(run_load(base, secret, split, args.warmup, args.redelivery, **load))
    profilers = start_profilers(server, args) if database and args.py_spy else []
    runs.append(run_load(base, secret, split, args.duration, args.redelivery, **load))
    for profiler in profilers:
        profiler.process.wait(timeout=args.duration + 60)
        profiler.stop()
    return runs


def start_profilers(server: Server, args: argparse.Namespace) -> list[Server]:
    profilers = []
    for pid in server.worker_pids():
        out = Path(f"{args.py_spy}-{pid}.txt").resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)]
        argv += ["--duration", str(round(args.duration)), "--format", "raw", "--output", str(out)]
        # Native frames need the process paused at each sample, which slows it down.
        argv += ["--native"] if os.environ.get("BENCH_PY_SPY_NATIVE") else ["--nonblocking"]
        print(f"profiling: {command_line(argv)}")
        profilers.append(Server("py-spy", argv, {}, out.with_suffix(".log")))
    return profilers


def mix_of(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        kind, _, share = part.partition("=")
        if kind.strip() not in EVENT_TABLES:
            raise SystemExit(f"--mix: unknown kind {kind!r}; use receipt, incoming, click")
        mix[kind.strip()] = float(share)
    return mix


def start_reference(args: argparse.Namespace, logs: Path) -> Server:
    port = free_port()
    argv = [str(Path(sys.executable).parent / "uvicorn"), "reference_app:app"]
    argv += ["--app-dir", "bench", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    server = Server("reference", argv, {}, logs / "reference.log", url, args.nice)
    server.wait_ready("/webhooks/x/receipt", RECEIPT)
    return server


def start_service(args: argparse.Namespace, database: str, secret: str, logs: Path) -> Server:
    port = free_port()
    scheme = "postgresql+asyncpg" if args.driver == "asyncpg" else "postgresql+psycopg"
    env = {
        "DATABASE_URL": f"{scheme}://postgres@127.0.0.1:5432/{database}",
        "WEBHOOK_SECRET": secret,
        "MIGRATE_ON_START": "true",
        "LOG_LEVEL": "WARNING",
    }
    argv = [str(Path(sys.executable).parent / "mobivate-hooks"), "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(args.workers)]
    url = f"http://127.0.0.1:{port}"
    server = Server("service", argv, env, logs / "service.log", url, args.nice)
    server.wait_ready("/healthz", timeout=120)
    return server


def report_line(name: str, result: LoadResult) -> str:
    completed = result.total("completed")
    mix = "/".join(
        f"{100 * int(r['completed']) / max(completed, 1):.0f}" for r in result.per_kind.values()
    )
    return (
        f"{name:<22}{result.rate:>8.0f}{result.percentile(50):>8.1f}{result.percentile(99):>8.1f}"
        f"{result.errors():>8}{result.total('non2xx'):>9}{completed:>10}  {mix}"
    )


def cpu_line(name: str, result: LoadResult) -> str:
    per_request = 1e6 / max(result.total("completed"), 1)
    cores = result.elapsed_cpu / max(os.cpu_count() or 1, 1)
    app, database = result.server_cpu * per_request, result.database_cpu * per_request
    return (
        f"{name:<22}{app:>8.0f}{database:>8.0f}"
        f"{result.wrk_cpu * per_request:>8.0f}{100 * result.machine_cpu:>9.0f}%"
        f"{result.other_cpu / max(cores, 1e-9):>10.2f}"
    )


def check(database: str, runs: list[LoadResult]) -> list[str]:
    """Compare what the database holds with what the service acknowledged."""
    counts = stored_counts(database)
    problems, lines = [], []
    for kind in EVENT_TABLES:
        acked = {
            name: sum(int(r.per_kind[kind][name]) for r in runs if kind in r.per_kind)
            for name in ("sent", "ok", "non2xx", "stored", "duplicate")
        }
        outcomes = counts.requests.get(kind, {})
        raw = sum(outcomes.values())
        pairs = [
            ("event rows", counts.rows[kind], '"stored" answers', acked["stored"]),
            ("raw requests", raw, "answers", acked["ok"] + acked["non2xx"]),
            ("raw requests", raw, "requests sent", acked["sent"]),
            ("duplicate requests", outcomes.get("duplicate", 0), '"duplicate" answers',
             acked["duplicate"]),
        ]  # fmt: skip
        verdicts = []
        for left, left_n, right, right_n in pairs:
            ok = left_n == right_n
            verdicts.append(f"{left} {left_n} {'==' if ok else '!='} {right} {right_n}")
            if not ok:
                problems.append(f"{kind}: {left} {left_n} != {right} {right_n}")
        lines.append(f"  {kind:<9} " + "; ".join(verdicts))
    print("\n".join(lines))
    total = sum(sum(outcomes.values()) for outcomes in counts.requests.values())
    print(
        f"  {counts.transactions} write transactions, "
        f"{total / max(counts.transactions, 1):.1f} requests per transaction on average"
    )
    return problems


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    if args.driver == "psycopg" and importlib.util.find_spec("psycopg") is None:
        raise SystemExit("--driver psycopg needs psycopg: .venv/bin/pip install 'psycopg[binary]'")
    logs = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    secret = secrets.token_urlsafe(24)
    results: dict[str, LoadResult] = {}
    database = create_database()
    print(f"database: {database} on 127.0.0.1:5432 (dropped at the end); logs in {logs}")
    if args.nice:
        print(f"servers and wrk run at nice {args.nice}; PostgreSQL keeps its own priority")
    service_runs: list[LoadResult] = []
    try:
        if not args.skip_reference:
            reference = start_reference(args, logs)
            print(f"reference: {command_line(reference.argv)}")
            try:
                results["reference (no DB)"] = measure(reference, args, secret)[-1]
            finally:
                reference.stop()
        service = start_service(args, database, secret, logs)
        print(f"service:   {command_line(service.argv, {**service.env, 'WEBHOOK_SECRET': '...'})}")
        try:
            service_runs = measure(service, args, secret, database)
        finally:
            service.stop()
        results[f"service ({args.driver})"] = service_runs[-1]
        for line in next(iter(results.values())).commands:
            print(f"load:      {line}")
        print(
            f"\n{'':<22}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}{'non-2xx':>9}"
            f"{'requests':>10}  receipt/incoming/click %"
        )
        for name, result in results.items():
            print(report_line(name, result))
        print(
            f"\n{'CPU µs per request':<22}{'app':>8}{'pg':>8}{'wrk':>8}"
            f"{'machine':>10}{'others':>10}"
            "\n(machine: busy share of all cores; others: cores used by anything else meanwhile)"
        )
        for name, result in results.items():
            print(cpu_line(name, result))
        reference_result = results.get("reference (no DB)")
        if reference_result is not None and reference_result.rate:
            ratio = service_runs[-1].rate / reference_result.rate
            print(f"\nratio service/reference: {ratio:.2f}")
        print("\nstored == acknowledged (warm-up and measured run together):")
        problems = check(database, service_runs)
    finally:
        drop_database(database)
    failed = [name for name, r in results.items() if r.errors() or r.total("non2xx")]
    for problem in problems:
        print(f"FAILED: {problem}")
    for name in failed:
        print(f"FAILED: {name} had errors or non-2xx answers")
    print("check: " + ("FAILED" if problems or failed else "passed"))
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
