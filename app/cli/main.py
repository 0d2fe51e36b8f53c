"""`mobivate-hooks`: the service's command-line tool."""

import argparse
import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from app.cli.arguments import duration, port_number, positive_int
from app.cli.delivery import add_reconcile_command
from app.cli.failures import DATABASE_ERROR, database_error_line, raised_by_the_database
from app.cli.mobivate import add_mobivate_commands
from app.cli.optouts import add_optout_commands
from app.config import Settings
from app.core.logs import configure_logging

logger = logging.getLogger("app.cli")

Command = Callable[[argparse.Namespace, Settings], int]


# prometheus_client's sample files: `counter_<pid>.db`, `gauge_livesum_<pid>.db`, ...
_METRIC_SAMPLES = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def _clear_metric_samples(directory: Path) -> None:
    """Samples left there by an earlier run would be added to this run's."""
    for stale in directory.glob("*.db"):
        if _METRIC_SAMPLES.fullmatch(stale.name):
            stale.unlink(missing_ok=True)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.core import migrate

    # With several workers, each writes its metric samples to files here; /metrics adds them up.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    made_metrics_dir = None
    if metrics_dir:
        _clear_metric_samples(Path(metrics_dir))
    elif args.workers > 1:
        made_metrics_dir = tempfile.mkdtemp(prefix="mobivate-hooks-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made_metrics_dir
    if settings.migrate_on_start:
        logger.info("applying pending database migrations")
        migrate.upgrade(settings.database_url)
    else:
        logger.info("MIGRATE_ON_START=false: not applying migrations")
    if settings.webhook_secret is None:
        # Without it no webhook can be taken, even into the outage spool: say so in one line
        # now rather than in a traceback from every worker's startup.
        _webhook_secret(settings)
    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            access_log=False,
            log_config=None,
            proxy_headers=False,  # the app applies X-Forwarded-* itself, from FORWARDED_ALLOW_IPS
            timeout_graceful_shutdown=args.graceful_timeout,
        )
    finally:
        if made_metrics_dir:
            shutil.rmtree(made_metrics_dir, ignore_errors=True)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.core import migrate

    if args.revision.startswith("-") or args.downgrade:
        migrate.downgrade(settings.database_url, args.revision)
    else:
        migrate.upgrade(settings.database_url, args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def _webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, else the one generated and kept in the database (made if none is)."""
    from app.core.db import create_engine
    from app.webhooks.secret import resolve_webhook_secret

    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            configured = settings.webhook_secret
            return await resolve_webhook_secret(
                engine, configured.get_secret_value() if configured else None
            )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_webhook_urls(args: argparse.Namespace, settings: Settings) -> int:
    from app.webhooks.secret import webhook_urls

    secret = _webhook_secret(settings)
    base = settings.public_base_url or args.base_url
    if not settings.public_base_url:
        print(f"# PUBLIC_BASE_URL is not set; showing URLs under {base}", file=sys.stderr)
    for kind, url in webhook_urls(base, secret).items():
        print(f"{kind.value:<9} {url}")
    return 0


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from app.core.db import create_engine
    from app.delivery import linking as delivery
    from app.webhooks.ingest import IngestWriter
    from app.webhooks.replay import ReprocessReport, reprocess_unparsed

    def progress(report: ReprocessReport) -> None:
        print(f"... {report.examined} examined", file=sys.stderr)

    async def run() -> ReprocessReport:
        engine = create_engine(settings.database_url)
        writer = IngestWriter(engine, click_window_seconds=settings.click_dedupe_window_seconds)
        writer.add_after_store_hook(delivery.after_store)
        await writer.start()
        try:
            return await reprocess_unparsed(engine, writer, progress=progress)
        finally:
            await writer.stop()
            await engine.dispose()

    report = asyncio.run(run())
    print(
        f"examined {report.examined}: {report.stored} events stored, "
        f"{report.duplicates} duplicates, {report.still_unparsed} still unparsed"
    )
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from app.core.db import create_engine
    from app.webhooks.purge import purge_before

    cutoff = datetime.now(UTC) - args.older_than

    def progress(table: str, deleted: int) -> None:
        print(f"... {table}: {deleted} deleted", file=sys.stderr)

    async def run() -> dict[str, int]:
        engine = create_engine(settings.database_url)
        try:
            return await purge_before(engine, cutoff, progress=progress)
        finally:
            await engine.dispose()

    deleted = asyncio.run(run())
    print(f"purged what was received before {cutoff.isoformat(timespec='seconds')}:")
    for table, count in deleted.items():
        print(f"  {table}: {count}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobivate-hooks",
        description="Webhook receiver, opt-out registry and sender for Mobivate bulk SMS. "
        "Settings come from environment variables (see README).",
        epilog="Every command exits 2 on a configuration error and 4 when it cannot use the "
        "database, with one line saying why. COMMAND --help tells more about each.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="apply pending migrations, then serve HTTP",
        description="Applies pending migrations (unless MIGRATE_ON_START=false), then serves the "
        "webhooks, the REST API, /metrics and the probes. On SIGTERM it stops accepting, "
        "answers and commits the requests in flight, then exits. Exit 3 if the address cannot "
        "be bound; 4 if migrating fails, or if WEBHOOK_SECRET is unset and the database, which "
        "keeps the generated one, cannot be reached.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes (default 1; /metrics adds up all of them)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=positive_int,
        default=20,
        help="seconds to finish in-flight requests on SIGTERM (default 20)",
    )
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser(
        "migrate",
        help="apply database migrations and exit",
        description="Brings the database schema to REVISION (default: the latest). Safe to run "
        "from several processes at once: one migrates, the others wait. Exit 0 done, 4 the "
        "database cannot be reached or migrated (e.g. an unknown REVISION, or a schema newer "
        "than this release).",
    )
    migrate.add_argument("revision", nargs="?", default="head", help="target (default head)")
    migrate.add_argument(
        "--downgrade", action="store_true", help="go down to REVISION (e.g. base or -1)"
    )
    migrate.set_defaults(handler=cmd_migrate)

    urls = commands.add_parser(
        "webhook-urls",
        help="print the full webhook URLs (with secret)",
        description="Prints the receipt, incoming and click webhook URLs under PUBLIC_BASE_URL "
        "with the webhook secret (WEBHOOK_SECRET, or the one generated and kept in the database, "
        "generating it if none exists yet). Exit 0 done, 4 database error.",
    )
    urls.add_argument(
        "--base-url",
        default="http://localhost:8000",
        help="base URL used when PUBLIC_BASE_URL is not set",
    )
    urls.set_defaults(handler=cmd_webhook_urls)

    reprocess = commands.add_parser(
        "reprocess",
        help="re-parse kept webhook bodies that could not be parsed when received",
        description="Parses again every kept webhook body whose outcome is 'unparsed' and stores "
        "the events of those that parse now (duplicates are recognised). Prints progress on "
        "standard error. Exit 0 done, 4 database error.",
    )
    reprocess.set_defaults(handler=cmd_reprocess)

    add_mobivate_commands(commands)
    add_optout_commands(commands)
    add_reconcile_command(commands)

    purge = commands.add_parser(
        "purge",
        help="delete raw webhook bodies and webhook events older than a retention period",
        description="Deletes kept webhook bodies, receipts, incoming messages and clicks "
        "received before now minus --older-than. Opt-out state and history, sent messages and "
        "batches are kept. Exit 0 done, 2 bad argument, 4 database error.",
    )
    purge.add_argument(
        "--older-than", type=duration, required=True, help="retention, e.g. 90d, 12h, 30m"
    )
    purge.set_defaults(handler=cmd_purge)
    return parser


def load_settings() -> Settings | None:
    """The settings, or None after printing one line per problem (no traceback)."""
    try:
        return Settings()
    except ValidationError as exc:
        print("configuration error:", file=sys.stderr)
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["loc"]:
                print(f"  {str(error['loc'][0]).upper()}: {message}", file=sys.stderr)
            else:
                for problem in message.split("; "):
                    print(f"  {problem}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    if settings is None:
        return 2
    configure_logging(settings.log_level, settings.log_format)
    handler: Command = args.handler
    try:
        return handler(args, settings)
    except Exception as exc:
        if raised_by_the_database(exc):
            print(database_error_line(exc, settings.database_url), file=sys.stderr)
            return DATABASE_ERROR
        if isinstance(exc, BrokenPipeError):  # the reader went away, as in `... | head -1`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
