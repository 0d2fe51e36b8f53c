"""Webhook ingestion benchmark: the service against a reference endpoint, in one invocation.

    .venv/bin/python bench/run.py --duration 20 --connections 1,4,32 --workers 2 [--baseline DIR]

1. Creates a throwaway PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth).
2. Starts the reference app (bench/reference_app.py: FastAPI, parses, stores nothing) and the
   service (`mobivate-hooks serve --workers N`, migrations applied on start), both with uvicorn,
   N workers, uvloop and httptools, and (with --baseline) the service again from another checkout
   with a database of its own.
3. At each number of connections in turn: warms up and loads the reference with wrk, then the
   service the same way (then the baseline), so each pair is measured under the same
   neighbours; prints a table per level.
4. Checks that every acknowledged request was stored: per kind, event rows == "stored" answers,
   raw requests == answers, "duplicate" requests == "duplicate" answers (warm-ups included).
5. Prints the service/reference ratio per level beside the targets, then drops the databases.

Load: one wrk process per kind (bench/webhooks.lua), connections split by the mix (default 80 %
receipts, 10 % incoming messages, 10 % clicks; with fewer connections than kinds, the largest
shares only), each request a fresh event except a fraction of exact redeliveries.

CPU per request is split (CPU_ACCOUNTING, app.core.cpu_parts) into `http` (uvicorn's protocol:
parsing, starting the request's task, writing answers), `app` (every asyncio task: the endpoint,
the ingest writer and its SQL, background workers) and `loop` (the rest of the processes: the
event loop itself, the driver reading PostgreSQL's answers, uvicorn's supervisor); `pg` is the
PostgreSQL backends serving the benchmark database. Exit status 0 when the check passes and
nothing failed, 1 otherwise.
"""

import argparse
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    EVENT_TABLES,
    LoadResult,
    Server,
    command_line,
    create_database,
    drop_database,
    free_port,
    maps_library,
    run_load,
    split_connections,
    stored_counts,
)
from profile_top import read_stacks, top_entries

RECEIPT = (
    b'{"deliveryMessageId":"9A85B95E0A000A9D2FBD46710388AD54","batchId":"9A85B9110A000A9D2FBD'
    b'4671D691C328","clientReference":null,"created":"2023-07-28T03:23:22.000+00:00","status":'
    b'"ACCEPTED","statusCode":2,"parts":1,"hlr":null}'
)
# connections: (lowest service/reference ratio, latency percentile, its highest ms)
TARGETS = {1: (0.5, 50, 0.6), 4: (0.6, None, None), 32: (1.0, 99, 25.0)}
REFERENCE = "reference (no DB)"


@dataclass
class App:
    name: str
    server: Server
    database: str | None = None  # the service's, None for the reference
    runs: list[LoadResult] = field(default_factory=list)  # every run, warm-ups included


def connection_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("every level needs at least one connection")
    return levels


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per app")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per app")
    parser.add_argument(
        "--connections",
        type=connection_levels,
        default=[32],
        metavar="N[,N...]",
        help="concurrent connections, or a list of them measured one after the other "
        "(default 32; e.g. 1,4,32)",
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--driver", choices=["asyncpg", "psycopg"], default="asyncpg")
    parser.add_argument("--redelivery", type=float, default=0.03, help="share of exact repeats")
    parser.add_argument(
        "--mix", default="receipt=0.8,incoming=0.1,click=0.1", help="share of each kind"
    )
    parser.add_argument("--skip-reference", action="store_true", help="run the service only")
    parser.add_argument(
        "--cpu-split",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count CPU by part in the servers (CPU_ACCOUNTING; about 1 µs per task step)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also run the service from the checkout in DIR (e.g. `git worktree add "
        "../before main`), with this virtualenv and a database of its own, right after the "
        "service at each level: before and after in one invocation",
    )
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
        help="profile each service worker with py-spy during each measured run: collapsed "
        "stacks in PREFIX-<app>-c<connections>-<pid>.txt (for speedscope or flamegraph.pl), "
        "and their top entries printed",
    )
    return parser.parse_args()


def measure(app: App, args: argparse.Namespace, secret: str, connections: int) -> LoadResult:
    split = split_connections(connections, mix_of(args.mix))
    load = {"server": app.server, "database": app.database, "niceness": args.nice}
    base = app.server.url
    if args.warmup > 0:
        app.runs.append(run_load(base, secret, split, args.warmup, args.redelivery, **load))
    profile = args.py_spy and app.database
    profilers = start_profilers(app, args, connections) if profile else []
    app.runs.append(run_load(base, secret, split, args.duration, args.redelivery, **load))
    for profiler in profilers:
        profiler.process.wait(timeout=args.duration + 60)
        profiler.stop()
    if profilers:
        stacks = read_stacks(Path(p.argv[p.argv.index("--output") + 1]) for p in profilers)
        if stacks:
            print(
                f"\npy-spy, {app.name}, {connections} connections: "
                + "\n".join(top_entries(stacks, 15))
            )
    return app.runs[-1]


def start_profilers(app: App, args: argparse.Namespace, connections: int) -> list[Server]:
    profilers = []
    label = app.name.split(" ")[0]
    for pid in app.server.worker_pids():
        out = Path(f"{args.py_spy}-{label}-c{connections}-{pid}.txt").resolve()
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
    metrics_dir = tempfile.mkdtemp(prefix="metrics-", dir=logs)
    env = {"PROMETHEUS_MULTIPROC_DIR": metrics_dir, "CPU_ACCOUNTING": str(args.cpu_split).lower()}
    argv = [str(Path(sys.executable).parent / "uvicorn"), "reference_app:app"]
    argv += ["--app-dir", "bench", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"]
    # The service's loop and parser (`serve`: uvloop when installed, httptools).
    argv += ["--loop", "uvloop", "--http", "app.cli.http_protocol:TimedHttpToolsProtocol"]
    url = f"http://127.0.0.1:{port}"
    server = Server("reference", argv, env, logs / "reference.log", url, args.nice)
    server.wait_ready("/webhooks/x/receipt", RECEIPT)
    return server


def start_service(
    args: argparse.Namespace,
    database: str,
    secret: str,
    logs: Path,
    checkout: Path | None = None,
) -> Server:
    port = free_port()
    scheme = "postgresql+asyncpg" if args.driver == "asyncpg" else "postgresql+psycopg"
    env = {
        "DATABASE_URL": f"{scheme}://postgres@127.0.0.1:5432/{database}",
        "WEBHOOK_SECRET": secret,
        "MIGRATE_ON_START": "true",
        "LOG_LEVEL": "WARNING",
        "CPU_ACCOUNTING": str(args.cpu_split).lower(),
    }
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout.resolve())
    argv = [str(Path(sys.executable).parent / "mobivate-hooks"), "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(args.workers)]
    url = f"http://127.0.0.1:{port}"
    name = "baseline" if checkout else "service"
    server = Server(name, argv, env, logs / f"{name}.log", url, args.nice)
    server.wait_ready("/healthz", timeout=120)
    return server


def server_stack(apps: list[App]) -> str:
    """What the servers run on, read from the libraries their workers have loaded."""
    versions = {
        name: importlib.metadata.version(name) for name in ("uvicorn", "uvloop", "httptools")
    }
    lines = [
        f"uvicorn {versions['uvicorn']}, uvloop {versions['uvloop']}, "
        f"httptools {versions['httptools']}:"
    ]
    for app in apps:
        pids = app.server.worker_pids()
        loaded = [
            f"{name} in {sum(maps_library(pid, library) for pid in pids)}"
            for name, library in (("uvloop", "uvloop/loop."), ("httptools", "httptools/parser"))
        ]
        lines.append(f"  {app.name}: {', '.join(loaded)} of its {len(pids)} child processes")
    return "\n".join(lines)


def report_line(name: str, result: LoadResult) -> str:
    completed = result.total("completed")
    mix = "/".join(
        f"{100 * int(r['completed']) / max(completed, 1):.0f}" for r in result.per_kind.values()
    )
    kinds = "/".join(result.per_kind)
    return (
        f"{name:<22}{result.rate:>8.0f}{result.percentile(50):>8.2f}{result.percentile(99):>8.1f}"
        f"{result.errors():>8}{result.total('non2xx'):>9}{completed:>10}  {mix} {kinds}"
    )


def cpu_line(name: str, result: LoadResult) -> str:
    per_request = 1e6 / max(result.total("completed"), 1)
    cores = result.elapsed_cpu / max(os.cpu_count() or 1, 1)
    parts = result.server_parts
    process = result.server_cpu * per_request
    if parts:
        http, app = parts.get("http", 0.0) * per_request, parts.get("app", 0.0) * per_request
        split = f"{http:>7.0f}{app:>7.0f}{process - http - app:>7.0f}"
    else:
        split = f"{'-':>7}{'-':>7}{'-':>7}"
    return (
        f"{name:<22}{process:>8.0f}{split}{result.database_cpu * per_request:>7.0f}"
        f"{result.wrk_cpu * per_request:>7.0f}{100 * result.machine_cpu:>9.0f}%"
        f"{result.other_cpu / max(cores, 1e-9):>8.2f}"
    )


def print_level(connections: int, results: dict[str, LoadResult]) -> None:
    print(f"\n== {connections} connection{'s' if connections > 1 else ''} ==")
    print(
        f"{'':<22}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}{'non-2xx':>9}"
        f"{'requests':>10}  mix %"
    )
    for name, result in results.items():
        print(report_line(name, result))
    print(
        f"{'CPU µs per request':<22}{'process':>8}{'http':>7}{'app':>7}{'loop':>7}{'pg':>7}"
        f"{'wrk':>7}{'machine':>10}{'others':>8}"
    )
    for name, result in results.items():
        print(cpu_line(name, result))


def print_ratios(levels: dict[int, dict[str, LoadResult]], services: list[str]) -> None:
    print(
        "\nratio to the reference (same level, same invocation); target: lowest ratio and "
        "latency\n"
        f"{'connections':>11}  " + "".join(f"{name:>22}" for name in services) + "  target"
    )
    for connections, results in levels.items():
        reference = results.get(REFERENCE)
        cells = []
        for name in services:
            result = results[name]
            ratio = result.rate / reference.rate if reference and reference.rate else float("nan")
            cells.append(
                f"{ratio:>6.2f} p50 {result.percentile(50):>5.2f} p99 {result.percentile(99):>5.1f}"
            )
        target = TARGETS.get(connections)
        wanted = ""
        if target:
            ratio, percentile, limit = target
            wanted = f"≥ {ratio:.1f}" + (f", p{percentile} ≤ {limit} ms" if percentile else "")
        print(f"{connections:>11}  " + "".join(f"{cell:>22}" for cell in cells) + f"  {wanted}")


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
    if args.baseline and not (args.baseline / "app" / "main.py").is_file():
        raise SystemExit(f"--baseline: no checkout of the service in {args.baseline}")
    logs = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    secret = secrets.token_urlsafe(24)
    databases = [create_database()] + ([create_database()] if args.baseline else [])
    print(
        f"databases: {', '.join(databases)} on 127.0.0.1:5432 (dropped at the end); logs in {logs}"
    )
    if args.nice:
        print(f"servers and wrk run at nice {args.nice}; PostgreSQL keeps its own priority")
    apps: list[App] = []
    levels: dict[int, dict[str, LoadResult]] = {}
    problems: list[str] = []
    try:
        if not args.skip_reference:
            apps.append(App(REFERENCE, start_reference(args, logs)))
        apps.append(
            App(
                f"service ({args.driver})",
                start_service(args, databases[0], secret, logs),
                databases[0],
            )
        )
        if args.baseline:
            baseline = start_service(args, databases[1], secret, logs, args.baseline)
            apps.append(App(f"baseline ({args.driver})", baseline, databases[1]))
        for app in apps:
            env = {**app.server.env, "WEBHOOK_SECRET": "..."} if app.database else app.server.env
            print(f"{app.name}: {command_line(app.server.argv, env)}")
        print(server_stack(apps))
        for connections in args.connections:
            levels[connections] = {
                app.name: measure(app, args, secret, connections) for app in apps
            }
            for line in next(iter(levels[connections].values())).commands:
                print(f"load:      {line}")
            print_level(connections, levels[connections])
        print(
            "\n(CPU: process = http + app + loop, all processes of the app; pg: PostgreSQL "
            "backends;\n machine: busy share of all cores; others: cores used by anything else "
            "meanwhile)"
        )
        services = [app.name for app in apps if app.database]
        if not args.skip_reference:
            print_ratios(levels, services)
        for app in apps:
            if app.database:
                print(
                    f"\n{app.name}: stored == acknowledged (warm-ups and measured runs together):"
                )
                problems += [f"{app.name}: {p}" for p in check(app.database, app.runs)]
    finally:
        for app in apps:
            app.server.stop()
        for database in databases:
            drop_database(database)
    failed = [
        f"{name} at {connections} connections"
        for connections, results in levels.items()
        for name, r in results.items()
        if r.errors() or r.total("non2xx")
    ]
    for problem in problems:
        print(f"FAILED: {problem}")
    for name in failed:
        print(f"FAILED: {name} had errors or non-2xx answers")
    print("check: " + ("FAILED" if problems or failed else "passed"))
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
