"""`mobivate-hooks reconcile`: ask Mobivate about sent messages that are still not final.

Exit codes (as for the other Mobivate commands): 0 done, every lookup answered; 1 Mobivate refused
the API key, or some lookups failed (the rest are recorded: run again later); 2 a setting or
argument is wrong; 3 Mobivate could not be reached at all; 4 the database failed (e.g. not
migrated: run `mobivate-hooks migrate`).
"""

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import Any, TextIO

import httpx

from app.cli.arguments import duration_or_zero, positive_int, whole_number
from app.cli.exits import ExitCode
from app.cli.runtime import cli_runtime
from app.config import Settings
from app.delivery.reconcile import ReconcileReport, reconcile
from app.mobivate.errors import MobivateAuthError
from app.runtime import mobivate_client


def summary(report: ReconcileReport) -> str:
    text = (
        f"{report.examined} examined: {report.now_final} now final ({report.settled_by_id} by "
        f"id, {report.settled_by_search} by search), {report.still_open} still in flight "
        f"({report.without_id} without a Mobivate id, {report.found_by_search} of them found by "
        f"search in {report.search_pages} pages), {report.recorded} statuses recorded, "
        f"{report.linked} stored receipts linked, {report.unknown} unknown to Mobivate, "
        f"{report.failed} lookups failed"
    )
    if report.failed_searches:
        text += f", {report.failed_searches} searches failed"
    if report.batches_left:
        text += f", {report.batches_left} batches left for the next run (--search-pages)"
    return text


async def run_reconcile(
    settings: Settings,
    *,
    older_than: timedelta,
    limit: int | None = None,
    concurrency: int = 4,
    search_pages: int = 20,
    transport: httpx.AsyncBaseTransport | None = None,
    retry_wait_seconds: float = 0.5,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """`retry_wait_seconds`: the first wait before a lookup that failed is tried again."""
    if settings.mobivate_api_key is None:
        print("cannot reconcile: set MOBIVATE_API_KEY", file=err)
        return ExitCode.BAD_INPUT

    def progress(report: ReconcileReport) -> None:
        print(f"... {report.examined} examined, {report.settled_by_id} now final", file=err)

    try:
        async with cli_runtime(settings, transport=transport) as runtime:
            client = mobivate_client(settings, runtime.http, retry_wait_seconds=retry_wait_seconds)
            assert client is not None
            report = await reconcile(
                runtime.engine,
                client,
                older_than=older_than,
                limit=limit,
                concurrency=concurrency,
                progress=progress,
                search_pages=search_pages,
            )
    except MobivateAuthError as exc:
        print(f"Mobivate refused the API key: HTTP {exc.status_code}: {exc.message}", file=err)
        return ExitCode.FAILED
    print(f"reconciled {summary(report)}", file=out)
    calls = report.looked_up + report.search_pages + report.failed_searches
    failures = report.failed + report.failed_searches
    if failures and failures == calls:
        print("Mobivate could not be reached for any lookup; run again later", file=err)
        return ExitCode.UNREACHABLE
    if failures:
        print(f"{failures} lookups or searches failed; run again later to retry them", file=err)
        return ExitCode.FAILED
    return ExitCode.OK


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(
        run_reconcile(
            settings,
            older_than=args.older_than,
            limit=args.limit,
            concurrency=args.concurrency,
            search_pages=args.search_pages,
        )
    )


def add_reconcile_command(commands: "argparse._SubParsersAction[Any]") -> None:
    command = commands.add_parser(
        "reconcile",
        help="ask Mobivate about sent messages still not final and record what it says",
        description="For messages submitted longer ago than --older-than that have no final "
        "status yet, links receipts stored before the message was known, asks Mobivate's "
        "message log (GET /message/{id}) about those with a Mobivate id and finds batch "
        "messages without one with the message-log search (GET /message, by batch and date "
        "range, matched by reference); each status it reports is recorded as a receipt with "
        "source 'reconciliation'. Safe to repeat. Exit codes: 0 done, 1 Mobivate refused or "
        "some lookups failed, 2 bad setting or argument, 3 Mobivate unreachable, "
        "4 database error.",
    )
    command.add_argument(
        "--older-than",
        type=duration_or_zero,
        default=timedelta(hours=6),
        metavar="DURATION",
        help="only messages submitted at least this long ago, e.g. 30m, 6h, 2d, or 0s for all "
        "(default 6h)",
    )
    command.add_argument(
        "--limit", type=positive_int, metavar="N", help="examine at most N messages"
    )
    command.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="lookups in flight at once (default 4)",
    )
    command.add_argument(
        "--search-pages",
        type=whole_number(0),
        default=20,
        metavar="N",
        help="read at most N pages of 1,000 of Mobivate's message-log search to find batch "
        "messages without a Mobivate id; 0 skips the search (default 20)",
    )
    command.set_defaults(handler=cmd_reconcile)
