"""`reprocess` and `purge`: the kept webhook bodies after the fact."""

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx

from app.cli.arguments import duration
from app.cli.exits import ExitCode
from app.cli.runtime import cli_runtime
from app.config import Settings


async def reprocess(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    from app.webhooks.replay import ReprocessReport, reprocess_unparsed

    def progress(report: ReprocessReport) -> None:
        print(f"... {report.examined} examined", file=err)

    async with cli_runtime(settings, transport=transport) as runtime:
        report = await reprocess_unparsed(runtime.engine, runtime.ingest, progress=progress)
    print(
        f"examined {report.examined}: {report.stored} events stored, "
        f"{report.duplicates} duplicates, {report.still_unparsed} still unparsed",
        file=out,
    )
    return ExitCode.OK


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(reprocess(settings))


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from app.webhooks.purge import purge_before

    cutoff = datetime.now(UTC) - args.older_than

    def progress(table: str, deleted: int) -> None:
        print(f"... {table}: {deleted} deleted", file=sys.stderr)

    async def run() -> dict[str, int]:
        async with cli_runtime(settings) as runtime:
            return await purge_before(runtime.engine, cutoff, progress=progress)

    deleted = asyncio.run(run())
    print(f"purged what was received before {cutoff.isoformat(timespec='seconds')}:")
    for table, count in deleted.items():
        print(f"  {table}: {count}")
    return ExitCode.OK


def add_webhook_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    reprocess = commands.add_parser(
        "reprocess",
        help="re-parse kept webhook bodies that could not be parsed when received",
        description="Parses again every kept webhook body whose outcome is 'unparsed' and stores "
        "the events of those that parse now, with every step live traffic gets (a STOP opts the "
        "number out and is pushed to Mobivate); duplicates are recognised. Prints progress on "
        "standard error. Exit 0 done, 4 database error.",
    )
    reprocess.set_defaults(handler=cmd_reprocess)

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
