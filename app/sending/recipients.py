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


class Chooser:
    """Decides for a batch's checked messages, taken in request order slice by slice, which are
    left out; it remembers each number's first message for `exclude_duplicates`."""

    def __init__(
        self,
        engine: AsyncEngine,
        mobivate: MobivateClient | None,
        lookups: LookupPolicy,
        *,
        exclude_duplicates: bool,
        first_index: dict[str, int] | None = None,
    ) -> None:
        self._engine = engine
        self._mobivate = mobivate
        self._lookups = lookups
        self._exclude_duplicates = exclude_duplicates
        self.first_index: dict[str, int] = first_index if first_index is not None else {}

    async def leave_out(
        self, items: list[tuple[int, Outgoing, str]]
    ) -> tuple[list[tuple[int, Outgoing, str]], list[dict[str, Any]]]:
        """Opted-out numbers and later repeats of a number left out."""
        skipped: list[dict[str, Any]] = []
        opted_out = await is_opted_out(self._engine, [m.msisdn for _, m, _ in items])
        reasons: dict[str, str] = {}
        if opted_out:
            async with self._engine.connect() as conn:
                reasons = await optout_reasons(conn, opted_out)
        kept: list[tuple[int, Outgoing, str]] = []
        first_index = self.first_index
        for index, message, raw_to in items:
            if message.msisdn in opted_out:
                reason = reasons.get(message.msisdn, "opted out")
                skipped.append(skip(index, raw_to, "opted_out", f"{message.msisdn} has {reason}"))
            elif self._exclude_duplicates and message.msisdn in first_index:
                detail = f"same number as messages[{first_index[message.msisdn]}]"
                skipped.append(skip(index, raw_to, "duplicate", detail))
            else:
                first_index.setdefault(message.msisdn, index)
                kept.append((index, message, raw_to))
        return kept, skipped

    async def verify(
        self, kept: list[tuple[int, Outgoing, str]]
    ) -> tuple[list[tuple[int, Outgoing, str]], list[dict[str, Any]]]:
        """Numbers Mobivate's lookup says cannot be reached left out; raises when the lookups
        cannot be made."""
        if not kept:
            return kept, []
        numbers = list(dict.fromkeys(message.msisdn for _, message, _ in kept))
        answers = await look_up(self._engine, self._mobivate, self._lookups, numbers)
        verified = []
        skipped = []
        for index, message, raw_to in kept:
            answer = answers[message.msisdn]
            if answer.reachable is False:
                skipped.append(skip(index, raw_to, "hlr_unreachable", _unreachable(answer)))
            else:
                verified.append((index, message, raw_to))
        return verified, skipped


async def choose_recipients(
    engine: AsyncEngine,
    mobivate: MobivateClient | None,
    prepared: PreparedBatch,
    lookups: LookupPolicy,
) -> Recipients:
    """Every recipient of a checked batch at once (a dry run)."""
    chooser = Chooser(engine, mobivate, lookups, exclude_duplicates=prepared.exclude_duplicates)
    kept, skipped = await chooser.leave_out(prepared.items)
    skipped = list(prepared.skipped) + skipped
    if prepared.verify_numbers:
        kept, unreachable = await chooser.verify(kept)
        skipped += unreachable
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
