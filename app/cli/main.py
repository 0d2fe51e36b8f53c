"""`mobivate-hooks`: the service's command-line tool. One module per command family:
`serve` (serve, migrate, webhook-urls), `webhooks` (reprocess, purge), `mobivate`
(register-webhooks, check-mobivate, fake-mobivate), `optouts` (sync-optouts, audit-optouts)
`delivery` (reconcile) and `batches` (send-batch); exit codes in `exits`."""

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from app.cli.batches import add_batch_commands
from app.cli.delivery import add_reconcile_command
from app.cli.exits import ExitCode, database_error_line, raised_by_the_database
from app.cli.mobivate import add_mobivate_commands
from app.cli.optouts import add_optout_commands
from app.cli.serve import add_serve_commands
from app.cli.webhooks import add_webhook_commands
from app.config import Settings
from app.core.logs import configure_logging

Command = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobivate-hooks",
        description="Webhook receiver, opt-out registry and sender for Mobivate bulk SMS. "
        "Settings come from environment variables (see Configuration in docs/).",
        epilog="Every command exits 2 on a configuration error and 4 when it cannot use the "
        "database, with one line saying why. COMMAND --help tells more about each.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_commands(commands)
    add_webhook_commands(commands)
    add_mobivate_commands(commands)
    add_optout_commands(commands)
    add_reconcile_command(commands)
    add_batch_commands(commands)
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
        return ExitCode.BAD_INPUT
    configure_logging(settings.log_level, settings.log_format)
    handler: Command = args.handler
    try:
        return handler(args, settings)
    except Exception as exc:
        if raised_by_the_database(exc):
            print(database_error_line(exc, settings.database_url), file=sys.stderr)
            return ExitCode.DATABASE
        if isinstance(exc, BrokenPipeError):  # the reader went away, as in `... | head -1`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return ExitCode.FAILED
        raise
