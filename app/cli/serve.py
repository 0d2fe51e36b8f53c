"""`serve`, `migrate` and `webhook-urls`: running the service and preparing its database."""

import argparse
import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.cli.arguments import port_number, positive_int
from app.cli.exits import ExitCode
from app.cli.runtime import cli_runtime
from app.config import Settings

logger = logging.getLogger("app.cli")

# prometheus_client's sample files: `counter_<pid>.db`, `gauge_livesum_<pid>.db`, ...
_METRIC_SAMPLES = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def clear_metric_samples(directory: Path) -> None:
    """Samples left there by an earlier run would be added to this run's."""
    for stale in directory.glob("*.db"):
        if _METRIC_SAMPLES.fullmatch(stale.name):
            stale.unlink(missing_ok=True)


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, else the one generated and kept in the database (made if none is)."""

    async def run() -> str:
        async with cli_runtime(settings) as runtime:
            return runtime.webhook_secret

    return asyncio.run(run())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.core import migrate

    # With several workers, each writes its metric samples to files here; /metrics adds them up.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    made_metrics_dir = None
    if metrics_dir:
        clear_metric_samples(Path(metrics_dir))
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
        webhook_secret(settings)
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
            # Slow and idle clients are cut off (REQUEST_READ_TIMEOUT_SECONDS, MAX_CONNECTIONS).
            http="app.cli.http_protocol:GuardedHttpProtocol",
            timeout_graceful_shutdown=args.graceful_timeout,
        )
    finally:
        if made_metrics_dir:
            shutil.rmtree(made_metrics_dir, ignore_errors=True)
    return ExitCode.OK


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.core import migrate

    if args.revision.startswith("-") or args.downgrade:
        migrate.downgrade(settings.database_url, args.revision)
    else:
        migrate.upgrade(settings.database_url, args.revision)
    print(f"database migrated to {args.revision}")
    return ExitCode.OK


def cmd_webhook_urls(args: argparse.Namespace, settings: Settings) -> int:
    from app.webhooks.secret import webhook_urls

    secret = webhook_secret(settings)
    base = settings.public_base_url or args.base_url
    if not settings.public_base_url:
        print(f"# PUBLIC_BASE_URL is not set; showing URLs under {base}", file=sys.stderr)
    for kind, url in webhook_urls(base, secret).items():
        print(f"{kind.value:<9} {url}")
    return ExitCode.OK


def add_serve_commands(commands: "argparse._SubParsersAction[Any]") -> None:
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
