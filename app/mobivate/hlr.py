"""Number verification (HLR): the answer of `GET /hlr?lookup=` and what it says about a number
(API reference §9.3, §9.4).

Mobivate documents one status object (`DELIVERED` / `DELIVERED_TO_HANDSET`) and one error object
(`OK` / `NO_ERROR`). The groups around them follow a large CPaaS vendor's HLR model (status groups
PENDING, UNDELIVERABLE, DELIVERED, EXPIRED, REJECTED; errors with a `permanent` flag); `reachable`
reads them defensively:

- true: status group DELIVERED and no permanent error;
- false: a permanent error (the number does not exist), or status group UNDELIVERABLE or REJECTED;
- null: anything else (pending, expired, a group we do not know, no status at all).

The older developer page shows `to` masked (`4474*******`), so results are matched to the numbers
asked for by `to` when it is readable and by position otherwise (`match_results`).

The asynchronous variant (XML, one number at a time) is not documented well enough to build.

Receipts carry an `hlr` object whose structure Mobivate does not specify; `receipt_hlr` reads it
as one lookup result (or the first of a `results` list), keeping every field that reads and
dropping those that do not, so an odd value never costs the receipt.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

__all__ = [
    "HlrError",
    "HlrLookup",
    "HlrNetwork",
    "HlrResult",
    "HlrStatus",
    "is_reachable",
    "match_results",
    "receipt_hlr",
]

UNREACHABLE_GROUPS = frozenset({"UNDELIVERABLE", "REJECTED"})
REACHABLE_GROUP = "DELIVERED"


class _HlrModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class HlrNetwork(_HlrModel):
    network_name: str | None = None
    network_prefix: str | None = None
    country_name: str | None = None
    country_prefix: str | None = None
    network_id: int | None = None


class HlrStatus(_HlrModel):
    group_id: int | None = None
    group_name: str | None = None
    id: int | None = None
    name: str | None = None
    description: str | None = None


class HlrError(HlrStatus):
    permanent: bool | None = None


class HlrResult(_HlrModel):
    to: str | None = None
    mcc_mnc: str | None = None
    imsi: str | None = None
    original_network: HlrNetwork | None = None
    ported: bool | None = None
    ported_network: HlrNetwork | None = None
    status: HlrStatus | None = None
    error: HlrError | None = None

    @property
    def network(self) -> HlrNetwork | None:
        """The network the number is on now: the ported one when it was ported."""
        if self.ported and self.ported_network is not None:
            return self.ported_network
        return self.original_network


class HlrLookup(_HlrModel):
    success: bool | None = None
    batch_id: str | None = Field(default=None, alias="batchID")
    results: tuple[HlrResult, ...] = ()


def is_reachable(result: HlrResult) -> bool | None:
    if result.error is not None and result.error.permanent:
        return False
    group = (result.status.group_name or "").upper() if result.status else ""
    if group in UNREACHABLE_GROUPS:
        return False
    if group == REACHABLE_GROUP:
        return True
    return None


def match_results(numbers: Sequence[str], lookup: HlrLookup) -> dict[str, HlrResult]:
    """The result for each number asked for (digits, no '+'), where one can be told apart."""
    wanted = set(numbers)
    matched: dict[str, HlrResult] = {}
    for result in lookup.results:
        digits = (result.to or "").strip().lstrip("+")
        if digits in wanted and digits not in matched:
            matched[digits] = result
    if not matched and len(lookup.results) == len(numbers):
        return dict(zip(numbers, lookup.results, strict=True))
    return matched


def receipt_hlr(value: Mapping[str, Any] | None) -> HlrResult | None:
    """The `hlr` object of a receipt as a lookup result; None when it holds nothing readable."""
    if isinstance(value, Mapping) and isinstance(value.get("results"), list):
        first = value["results"][0] if value["results"] else None
        value = first if isinstance(first, Mapping) else None
    if not isinstance(value, Mapping) or not value:
        return None
    try:
        result = HlrResult.model_validate(value)
    except ValidationError:
        readable = {}
        for key, item in value.items():
            try:
                HlrResult.model_validate({key: item})
            except ValidationError:
                continue
            readable[key] = item
        result = HlrResult.model_validate(readable)
    return None if result == HlrResult() else result
