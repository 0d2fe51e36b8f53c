"""Who in a campaign gets a message: what `POST /api/v1/batches` sends and what its dry run
reports, decided in one place.

After the checks that need no database (`app.sending.batch_checks`, reason `invalid`), in order:
opted-out numbers (`opted_out`), later repeats of a number with `exclude_duplicates`
(`duplicate`), and with `verify_numbers` the numbers Mobivate's lookup says are unreachable or do
not exist (`hlr_unreachable`; see `app.lookups.lookup`). Numbers the lookup cannot tell about
are sent. Looking up only what is left keeps the lookups paid for to the numbers that would be
sent; a lookup that cannot be made (budget spent, Mobivate failing) refuses the whole batch
before anything is stored or sent.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.lookups.lookup import LookupPolicy, look_up
from app.lookups.store import Answer
from app.mobivate.client import MobivateClient
from app.optouts.registry import is_opted_out
from app.sending.batch_checks import PreparedBatch, skip
from app.sending.submission import optout_reasons
from app.sending.validation import Outgoing


@dataclass(slots=True)
class Recipients:
    kept: list[tuple[int, Outgoing]]
    skipped: list[dict[str, Any]]


async def choose_recipients(
    engine: AsyncEngine,
    mobivate: MobivateClient | None,
    prepared: PreparedBatch,
    lookups: LookupPolicy,
) -> Recipients:
    skipped = list(prepared.skipped)
    opted_out = await is_opted_out(engine, [m.msisdn for _, m, _ in prepared.items])
    async with engine.connect() as conn:
        reasons = await optout_reasons(conn, opted_out)
    kept: list[tuple[int, Outgoing, str]] = []
    first_index: dict[str, int] = {}
    for index, message, raw_to in prepared.items:
        if message.msisdn in opted_out:
            reason = reasons.get(message.msisdn, "opted out")
            skipped.append(skip(index, raw_to, "opted_out", f"{message.msisdn} has {reason}"))
        elif prepared.exclude_duplicates and message.msisdn in first_index:
            detail = f"same number as messages[{first_index[message.msisdn]}]"
            skipped.append(skip(index, raw_to, "duplicate", detail))
        else:
            first_index.setdefault(message.msisdn, index)
            kept.append((index, message, raw_to))
    if prepared.verify_numbers and kept:
        numbers = list(dict.fromkeys(message.msisdn for _, message, _ in kept))
        answers = await look_up(engine, mobivate, lookups, numbers)
        verified = []
        for index, message, raw_to in kept:
            answer = answers[message.msisdn]
            if answer.reachable is False:
                skipped.append(skip(index, raw_to, "hlr_unreachable", _unreachable(answer)))
            else:
                verified.append((index, message, raw_to))
        kept = verified
    skipped.sort(key=lambda entry: entry["index"])
    return Recipients([(index, message) for index, message, _ in kept], skipped)


def _unreachable(answer: Answer) -> str:
    said = [
        str(part.get("name"))
        for part in (answer.status, answer.error)
        if part is not None and part.get("name")
    ]
    what = f" ({', '.join(said)})" if said else ""
    return f"Mobivate's number lookup says {answer.msisdn} cannot be reached{what}"
