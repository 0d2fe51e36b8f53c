"""The event types a subscription can ask for, and how a subscription's list of them is stored
(`,receipt,message.status,`, so the trigger that records deliveries matches one with a plain
substring test on both backends)."""

from collections.abc import Iterable
from typing import Literal, get_args

EventType = Literal["receipt", "incoming", "click", "message.status", "optout.changed"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


def encode(event_types: Iterable[EventType]) -> str:
    chosen = set(event_types)
    return "," + ",".join(name for name in EVENT_TYPES if name in chosen) + ","


def decode(stored: str) -> list[EventType]:
    present = set(stored.strip(",").split(","))
    return [name for name in EVENT_TYPES if name in present]
