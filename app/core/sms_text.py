"""How many SMS parts a text needs, and in which encoding.

Text made only of characters from the GSM 03.38 (3GPP TS 23.038) default alphabet and its
extension table is sent as GSM-7; anything else makes the whole message UCS-2.

* GSM-7 units are septets: a default-alphabet character is 1, an extension-table character
  (form feed, ``^ { } \\ [ ~ ] |`` and ``€``) is 2 because it is sent as ESC plus a code.
* UCS-2 units are UTF-16 code units: a character outside the Basic Multilingual Plane, such as
  most emoji, is 2 (a surrogate pair).

A message of at most 160 septets (GSM-7) or 70 units (UCS-2) is a single part. Longer messages
are concatenated, and the user-data header leaves 153 septets or 67 units per part. Parts are
filled greedily and a character is never split across two parts, so an extension character's
escape pair or an emoji's surrogate pair that does not fit moves whole to the next part, which
can need one more part than ``ceil(units / 153)`` suggests.

The empty text is one GSM-7 part with 0 units: sending it still submits one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Encoding", "SmsSegments", "analyse"]

GSM7_SINGLE = 160
GSM7_PER_PART = 153
UCS2_SINGLE = 70
UCS2_PER_PART = 67

# Default alphabet in code order 0x00-0x7F, without 0x1B (ESC, the escape to the extension table).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsSegments:
    encoding: Encoding
    parts: int
    units: int


def _parts(costs: list[int], single: int, per_part: int) -> tuple[int, int]:
    units = sum(costs)
    if units <= single:
        return 1, units
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts, units


def analyse(text: str) -> SmsSegments:
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        costs = [2 if char in GSM7_EXTENSION else 1 for char in text]
        parts, units = _parts(costs, GSM7_SINGLE, GSM7_PER_PART)
        return SmsSegments(Encoding.GSM7, parts, units)
    costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    parts, units = _parts(costs, UCS2_SINGLE, UCS2_PER_PART)
    return SmsSegments(Encoding.UCS2, parts, units)
