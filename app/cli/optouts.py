"""`mobivate-hooks sync-optouts`: import Mobivate's opt-out list into the registry.
`mobivate-hooks audit-optouts`: list messages sent to a person while opted out.

sync-optouts exit codes (as for the other Mobivate commands): 0 done; 1 Mobivate refused (its
message is printed); 2 a setting or argument is wrong; 3 Mobivate could not be reached; 4 the
database failed (e.g. not migrated: run `mobivate-hooks migrate`). Pages imported before a
failure stay imported, and running the command again is safe.

audit-optouts exit codes: 0 no such send; 1 at least one (each printed, numbers masked);
2 a setting or argument is wrong; 4 the database failed.
"""

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TextIO

import httpx

from app.cli.arguments import day, duration, whole_number
from app.cli.exits import ExitCode
from app.cli.runtime import cli_runtime
from app.config import Settings
from app.core.phone import mask_msisdn
from app.mobivate.errors import MobivateRefused, MobivateUnavailable
from app.optouts.audit import sends_after_optout
from app.optouts.sync import SyncReport, import_optouts


async def sync_optouts(
    settings: Settings,
    *,
    since: date,
    until: date | None = None,
    page_size: int | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Import opt-outs Mobivate recorded from the start of `since` to the end of `until`
    (UTC days; default: up to now)."""
    if settings.mobivate_api_key is None:
        print("cannot import opt-outs: set MOBIVATE_API_KEY", file=err)
        return ExitCode.BAD_INPUT
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC) if until else datetime.now(UTC)
    if start >= end:
        print(f"--since {since} is not before the end of the range ({end:%Y-%m-%d})", file=err)
        return ExitCode.BAD_INPUT
    last = SyncReport()

    def progress(report: SyncReport) -> None:
        nonlocal last
        last = report
        print(
            f"page {report.pages}: {report.records} records so far, {report.imported} opted out",
            file=err,
        )

    try:
        async with cli_runtime(settings, transport=transport) as runtime:
            assert runtime.mobivate is not None
            report = await import_optouts(
                runtime.engine,
                runtime.mobivate,
                since=start,
                until=end,
                page_size=page_size or settings.optout_sync_page_size,
                region=settings.default_region,
                tolerance=timedelta(seconds=settings.event_time_tolerance_seconds),
                progress=progress,
            )
    except MobivateRefused as exc:
        print(f"Mobivate refused: HTTP {exc.status_code}: {exc.message}", file=err)
        print(f"stopped after {last.pages} pages; {last.summary()}", file=err)
        return ExitCode.FAILED
    except MobivateUnavailable as exc:
        print(f"Mobivate could not be reached: {exc}", file=err)
        print(f"stopped after {last.pages} pages; run again to finish", file=err)
        return ExitCode.UNREACHABLE
    print(f"imported {report.summary()}", file=out)
    return ExitCode.OK


def cmd_sync_optouts(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(
        sync_optouts(settings, since=args.since, until=args.until, page_size=args.page_size)
    )


async def audit_optouts(
    settings: Settings, *, since: timedelta, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    start = datetime.now(UTC) - since
    async with cli_runtime(settings) as runtime:
        found = await sends_after_optout(runtime.engine, start)
    window = f"since {start.isoformat(timespec='seconds')}"
    if not found:
        print(f"no message was sent to an opted-out person {window}", file=out)
        return ExitCode.OK
    for send in found:
        print(
            f"message {send.message_id} to {mask_msisdn(send.msisdn)} at "
            f"{send.sent_at.isoformat(timespec='seconds')} ({send.status}): opted out since "
            f"{send.opted_out_at.isoformat(timespec='seconds')} (event {send.optout_event_id}, "
            f"{send.optout_source})",
            file=out,
        )
    print(f"{len(found)} messages sent to opted-out people {window}", file=err)
    return ExitCode.FAILED


def cmd_audit_optouts(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(audit_optouts(settings, since=args.since))


def add_optout_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    audit = commands.add_parser(
        "audit-optouts",
        help="list messages sent to a person while opted out (expected: none)",
        description="Lists every message sent since --since to a person (by E.164, across "
        "spellings) who was opted out at the time, numbers masked (GET "
        "/api/v1/compliance/sends-after-optout shows them in full). Exit codes: 0 none, "
        "1 some were found, 2 bad setting or argument, 4 database error.",
    )
    audit.add_argument(
        "--since",
        type=duration,
        default=timedelta(days=30),
        metavar="DURATION",
        help="how far back to look, e.g. 30d, 12h (default 30d)",
    )
    audit.set_defaults(handler=cmd_audit_optouts)
    sync = commands.add_parser(
        "sync-optouts",
        help="import Mobivate's opt-out list into the registry (safe to repeat)",
        description="Pages through Mobivate's opt-out list and records every number on it as "
        "opted out (source: imported), except numbers opted back in here after Mobivate's "
        "record. Exit codes: 0 done, 1 Mobivate refused, 2 bad setting or argument, "
        "3 Mobivate unreachable, 4 database error.",
    )
    sync.add_argument(
        "--since", type=day, required=True, metavar="YYYY-MM-DD", help="first day (UTC)"
    )
    sync.add_argument(
        "--until", type=day, metavar="YYYY-MM-DD", help="last day (UTC); default: up to now"
    )
    sync.add_argument(
        "--page-size",
        type=whole_number(1, 1000),
        metavar="N",
        help="records per page, 1 to 1000 (default OPTOUT_SYNC_PAGE_SIZE)",
    )
    sync.set_defaults(handler=cmd_sync_optouts)
