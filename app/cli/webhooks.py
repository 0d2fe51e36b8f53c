"""`reprocess`, `purge` and `quarantine`: the kept webhook bodies after the fact."""

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


async def quarantine(
    settings: Settings,
    *,
    replay: bool,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO = sys.stdout,
) -> int:
    from app.webhooks.ingest import IngestUnavailable

    async with cli_runtime(settings, transport=transport) as runtime:
        if not replay:
            entries = await runtime.quarantine.entries()
            for entry in entries:
                print(
                    f"{entry.request_id} {entry.kind} received "
                    f"{entry.received_at.isoformat(timespec='seconds')} "
                    f"({entry.body_size} bytes, refused {entry.attempts}x): {entry.reason}",
                    file=out,
                )
            print(f"{len(entries)} quarantined", file=out)
            return ExitCode.OK
        try:
            results = await runtime.quarantine.replay(runtime.ingest)
        except IngestUnavailable:
            print("database unavailable: what was not replayed stays quarantined", file=out)
            return ExitCode.DATABASE
    for result in results:
        print(f"{result.request_id} {result.outcome}: {result.detail or ''}".rstrip(": "), file=out)
    refused = sum(result.outcome == "still refused" for result in results)
    print(f"replayed {len(results) - refused}, still refused {refused}", file=out)
    return ExitCode.FAILED if refused else ExitCode.OK


def cmd_quarantine(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(quarantine(settings, replay=args.replay))


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

    held = commands.add_parser(
        "quarantine",
        help="list (or --replay) webhook requests the database would not store",
        description="Lists the webhook requests kept in quarantine (SPOOL_DIR/quarantine.sqlite): "
        "the database answered but would not store them, not even raw. With --replay, stores them "
        "again through the live path; those the database now holds leave the quarantine. Exit 0 "
        "done, 1 some still refused, 4 database error.",
    )
    held.add_argument("--replay", action="store_true", help="store them again")
    held.set_defaults(handler=cmd_quarantine)
