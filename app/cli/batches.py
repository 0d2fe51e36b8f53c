"""`mobivate-hooks send-batch`: a campaign from a file of numbers.

The file's numbers (`app.cli.number_file`) and the text make a batch that goes the way of
`POST /api/v1/batches`: checked as a whole, stored and queued under an Idempotency-Key derived
from the file's content, the text and the options, then checked and sent in the background. The
command runs that background submission itself while it waits, so it works whether a `serve`
process runs or not (when one does, they share the work). Run again after an interruption, the
same command finds the same key, so it continues the same batch and never sends a message twice
(a call under way when it is interrupted is finished first; one cut short by a killed process is
never repeated: see `app.sending.chunks`).

On a terminal it shows a progress bar; otherwise it prints only the final line. Rows without a
number and recipients left out are listed on stderr with their line in the file.

Exit codes: 0 every call accepted; 1 some or all of the batch was not sent (Mobivate refused or
failed, or nothing could be sent); 2 a setting, argument or the file is wrong; 4 database error;
130 interrupted (run the same command again to continue).
"""

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import httpx
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli.exits import ExitCode
from app.cli.number_file import NumberFile, UnreadableFile, read_numbers
from app.cli.runtime import cli_runtime
from app.config import Settings
from app.sending.batch import BATCH_ENDPOINT, send_batch
from app.sending.batch_checks import check_batch, raw_items
from app.sending.idempotency import IdempotencyError, request_hash
from app.sending.schemas import SendBatchRequest
from app.sending.submission import submit
from app.sending.validation import InvalidSend
from app.sending.views import batch_progress, get_batch

CALLER = "command line"
INTERRUPTED = 130
SHOWN_LEFT_OUT = 20
POLL_SECONDS = 0.25


async def run_send_batch(
    settings: Settings,
    *,
    file: Path,
    text: str,
    name: str | None = None,
    originator: str | None = None,
    route_id: str | None = None,
    schedule_at: datetime | None = None,
    verify_numbers: bool = False,
    allow_duplicates: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    terminal: bool | None = None,
) -> int:
    if settings.mobivate_api_key is None:
        print("cannot send: set MOBIVATE_API_KEY", file=err)
        return ExitCode.BAD_INPUT
    try:
        numbers = read_numbers(await asyncio.to_thread(file.read_bytes))
    except OSError as exc:
        print(f"cannot read {file}: {exc.strerror or exc}", file=err)
        return ExitCode.BAD_INPUT
    except UnreadableFile as exc:
        print(f"{file} {exc}", file=err)
        return ExitCode.BAD_INPUT
    for line, problem in numbers.bad_rows:
        print(f"{file}:{line}: left out: {problem}", file=err)
    try:
        request = SendBatchRequest(
            name=name or file.name,
            originator=originator,
            route_id=route_id,
            schedule_at=schedule_at,
            verify_numbers=verify_numbers,
            exclude_duplicates=not allow_duplicates,
            messages=[{"to": number, "text": text} for number in numbers.numbers],
        )
        checked = check_batch(request, settings)
    except ValidationError as exc:
        print(f"cannot send: {exc.errors()[0]['msg']}", file=err)
        return ExitCode.BAD_INPUT
    except InvalidSend as exc:
        print(f"cannot send: {exc.detail}", file=err)
        return ExitCode.BAD_INPUT
    body = request.model_dump(mode="json")
    key = f"send-batch-{request_hash(body)}"
    show = out.isatty() if terminal is None else terminal
    async with cli_runtime(settings, transport=transport) as runtime:
        try:
            reply = await submit(
                runtime.engine,
                settings,
                runtime.mobivate,
                endpoint=BATCH_ENDPOINT,
                idempotency_key=key,
                caller=CALLER,
                body=body,
                work=lambda _client, attempt: send_batch(
                    runtime.engine, checked, raw_items(request), attempt
                ),
            )
        except IdempotencyError as exc:
            print(f"cannot send: {exc.detail}", file=err)
            return ExitCode.FAILED
        batch_id: int = reply.body["id"]
        if reply.replayed:
            print(f"continuing batch {batch_id}, queued earlier from this file", file=err)
        submitter = runtime.batches
        assert submitter is not None
        submitter.start()
        try:
            final = await _follow(runtime.engine, batch_id, out, show)
        except asyncio.CancelledError:
            print(
                f"interrupted: batch {batch_id} continues when the same command runs again "
                "(or in a running `serve`)",
                file=err,
            )
            raise
        finally:
            await submitter.stop()
    _report_left_out(final, numbers, file, err)
    print(_summary(final, reply.replayed), file=out)
    return ExitCode.OK if final["state"] == "submitted" else ExitCode.FAILED


async def _follow(engine: Any, batch_id: int, out: TextIO, show: bool) -> dict[str, Any]:
    """The batch once settled, with a progress bar on a terminal meanwhile."""
    progress = None
    task = None
    if show:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=out, force_terminal=True),
        )
        progress.start()
    try:
        while True:
            body = await batch_progress(engine, batch_id)
            assert body is not None
            state, numbers = body["state"], body["progress"]
            if progress is not None:
                left_out = body["requested"] - (numbers["total"] or body["requested"])
                done = left_out + numbers["submitted"] + numbers["not_submitted"]
                description = f"batch {batch_id} {state}: {numbers['submitted']} submitted"
                if task is None:
                    task = progress.add_task(description, total=body["requested"])
                progress.update(task, completed=done, description=description)
            if state not in ("queued", "submitting"):
                final = await get_batch(engine, batch_id)
                assert final is not None
                return final
            await asyncio.sleep(POLL_SECONDS)
    finally:
        if progress is not None:
            progress.stop()


def _report_left_out(body: dict[str, Any], numbers: NumberFile, file: Path, err: TextIO) -> None:
    skipped = body["skipped"]
    for entry in skipped[:SHOWN_LEFT_OUT]:
        line = numbers.lines[entry["index"]]
        print(f"{file}:{line}: left out ({entry['reason']}): {entry['detail']}", file=err)
    if len(skipped) > SHOWN_LEFT_OUT:
        print(
            f"... and {len(skipped) - SHOWN_LEFT_OUT} more left out: "
            f"GET /api/v1/batches/{body['id']} lists them all",
            file=err,
        )


def _summary(body: dict[str, Any], resumed: bool) -> str:
    numbers = body["progress"]
    text = (
        f"batch {body['id']} {body['state']}: {numbers['submitted']} of {numbers['total']} "
        f"submitted, {numbers['not_submitted']} not submitted, {len(body['skipped'])} left out"
    )
    if body["error"] is not None:
        text += f"; {body['error']['message']}"
    return text + (" (continued)" if resumed else "")


def _until_signalled(run: Callable[[], Any]) -> Any:
    """`run()` in an event loop that SIGTERM cancels as SIGINT does."""

    async def main() -> Any:
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run()

    return asyncio.run(main())


def cmd_send_batch(args: argparse.Namespace, settings: Settings) -> int:
    try:
        code: int = _until_signalled(
            lambda: run_send_batch(
                settings,
                file=args.file,
                text=args.text,
                name=args.name,
                originator=args.originator,
                route_id=args.route_id,
                schedule_at=args.schedule_at,
                verify_numbers=args.verify_numbers,
                allow_duplicates=args.allow_duplicates,
            )
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        return INTERRUPTED
    return code


def _schedule(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time such as 2030-03-01T09:00:00+00:00"
        ) from None


def add_batch_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    command = commands.add_parser(
        "send-batch",
        help="send one text to every number of a file, as a batch, with progress",
        description="Sends TEXT to every number in FILE (CSV: the column headed to, number, "
        "msisdn, mobile or phone, else the first) as one batch, the way POST /api/v1/batches "
        "does: invalid, opted-out and repeated numbers are left out and listed on stderr with "
        "their line. It shows a progress bar on a terminal and prints one line otherwise. "
        "Interrupted, the same command run again continues the same batch and sends nothing "
        "twice. Exit codes: 0 every call accepted, 1 part or all of the batch not sent, "
        "2 bad setting, argument or file, 4 database error, 130 interrupted.",
    )
    command.add_argument("--file", type=Path, required=True, metavar="FILE")
    command.add_argument("--text", required=True, help="the message every number gets")
    command.add_argument("--name", help="the batch's name (default: the file's name)")
    command.add_argument("--originator", help="sender id (default DEFAULT_ORIGINATOR)")
    command.add_argument("--route-id", help="Mobivate route (default DEFAULT_ROUTE_ID)")
    command.add_argument(
        "--schedule-at",
        type=_schedule,
        metavar="TIME",
        help="send at this future time, with a timezone, e.g. 2030-03-01T09:00:00+00:00",
    )
    command.add_argument(
        "--verify-numbers",
        action="store_true",
        help="look the numbers up first and leave out those unreachable (HLR_DAILY_LIMIT)",
    )
    command.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="send a repeated number once per row instead of once",
    )
    command.set_defaults(handler=cmd_send_batch)
