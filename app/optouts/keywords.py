"""Keyword rules for inbound messages: opt-out, opt-in and help.

Normalisation (``normalise_text``): Unicode NFKC, case-fold, NFKC again (case-folding can
un-normalise a few characters), collapse every run of whitespace to one space, then strip
surrounding whitespace, punctuation, symbols (emoji included) and invisible control/format
characters from both ends. Keywords are normalised the same way, so full-width ``STOP!``,
``" Stop. "`` and ``"stop"`` are all the keyword ``STOP``.

Matching (``KeywordRules.classify``): a normalised message matches a keyword when it

* equals the keyword, or
* starts with the keyword, the next character is whitespace or punctuation/symbol, and the
  remainder (the rest of the message with that leading separator stripped) is at most
  ``max_trailing_chars`` characters long (default 20, counted after normalisation, spaces
  included).

So ``"Stop. Thank you"`` and ``"stop please"`` opt out, while ``"stopwatch"`` (no separator),
``"Don't stop"`` (keyword not first) and ``"Stop by the shop on Friday to collect your order"``
(remainder too long) do not. The threshold favours honouring short replies such as
``"STOP sending me these"``: missing a genuine opt-out costs more than a rare false one.

Precedence: opt-out keywords are tried first, then opt-in, then help; the first intent with a
match wins, and within an intent the longest matching keyword wins (``"STOP ALL"`` over
``"STOP"``). The match reports the keyword as configured, e.g. ``"STOP ALL"``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "DEFAULT_HELP",
    "DEFAULT_MAX_TRAILING_CHARS",
    "DEFAULT_OPT_IN",
    "DEFAULT_OPT_OUT",
    "KeywordIntent",
    "KeywordMatch",
    "KeywordRules",
    "normalise_text",
]

DEFAULT_OPT_OUT: tuple[str, ...] = (
    "STOP",
    "STOPALL",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT OUT",
    "OPT-OUT",
    "REVOKE",
)
DEFAULT_OPT_IN: tuple[str, ...] = ("START", "UNSTOP", "SUBSCRIBE")
DEFAULT_HELP: tuple[str, ...] = ("HELP", "INFO")
DEFAULT_MAX_TRAILING_CHARS = 20

# Unicode general categories stripped from both ends of a message: punctuation (P*),
# symbols (S*, which includes emoji), separators (Z*) and control/format/unassigned (C*).
_EDGE_CATEGORIES = frozenset("PSZC")
# Categories that may separate a keyword from the rest of the message.
_SEPARATOR_CATEGORIES = frozenset("PSZ")


class KeywordIntent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


@dataclass(frozen=True)
class KeywordMatch:
    intent: KeywordIntent
    keyword: str | None


_NO_MATCH = KeywordMatch(KeywordIntent.NONE, None)


def _is_edge(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in _EDGE_CATEGORIES


def _is_separator(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in _SEPARATOR_CATEGORIES


def _strip_edges(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _normalise_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    return _strip_edges(" ".join(text.split()))


def normalise_text(body: str) -> str:
    # One pass is a fixed point for every single character and pair we have checked; the
    # bounded repeat guards idempotence against any longer sequence that is not.
    previous = body
    for _ in range(4):
        current = _normalise_once(previous)
        if current == previous:
            return current
        previous = current
    return previous


def _parse_csv(value: str | None, default: tuple[str, ...], name: str) -> tuple[str, ...]:
    if value is None or not value.strip():
        return default
    keywords = tuple(" ".join(part.split()) for part in value.split(","))
    keywords = tuple(keyword for keyword in keywords if keyword)
    if not keywords:
        raise ValueError(
            f"{name} keyword list {value!r} contains no keywords; "
            "give comma-separated keywords such as 'STOP,END', or leave it empty for the defaults"
        )
    return keywords


@dataclass(frozen=True)
class KeywordRules:
    opt_out: tuple[str, ...] = DEFAULT_OPT_OUT
    opt_in: tuple[str, ...] = DEFAULT_OPT_IN
    help: tuple[str, ...] = DEFAULT_HELP
    max_trailing_chars: int = DEFAULT_MAX_TRAILING_CHARS
    # Per intent, in precedence order: (normalised keyword, keyword as configured), longest first.
    _table: tuple[tuple[KeywordIntent, tuple[tuple[str, str], ...]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.max_trailing_chars < 0:
            raise ValueError(f"max_trailing_chars must be 0 or more, got {self.max_trailing_chars}")
        table: list[tuple[KeywordIntent, tuple[tuple[str, str], ...]]] = []
        for intent, keywords in (
            (KeywordIntent.OPT_OUT, self.opt_out),
            (KeywordIntent.OPT_IN, self.opt_in),
            (KeywordIntent.HELP, self.help),
        ):
            entries: list[tuple[str, str]] = []
            for keyword in keywords:
                normalised = normalise_text(keyword)
                if not normalised:
                    raise ValueError(
                        f"{intent.value} keyword {keyword!r} is empty once punctuation and "
                        "whitespace are removed; use a word such as 'STOP'"
                    )
                entries.append((normalised, keyword))
            entries.sort(key=lambda entry: len(entry[0]), reverse=True)
            table.append((intent, tuple(entries)))
        object.__setattr__(self, "_table", tuple(table))

    @classmethod
    def from_csv(cls, opt_out: str | None, opt_in: str | None, help: str | None) -> KeywordRules:
        return cls(
            opt_out=_parse_csv(opt_out, DEFAULT_OPT_OUT, "opt-out"),
            opt_in=_parse_csv(opt_in, DEFAULT_OPT_IN, "opt-in"),
            help=_parse_csv(help, DEFAULT_HELP, "help"),
        )

    def classify(self, body: str | None) -> KeywordMatch:
        if not body:
            return _NO_MATCH
        text = normalise_text(body)
        if not text:
            return _NO_MATCH
        for intent, entries in self._table:
            for normalised, keyword in entries:
                if self._matches(text, normalised):
                    return KeywordMatch(intent, keyword)
        return _NO_MATCH

    def _matches(self, text: str, keyword: str) -> bool:
        if text == keyword:
            return True
        if not text.startswith(keyword) or not _is_separator(text[len(keyword)]):
            return False
        remainder = _strip_edges(text[len(keyword) :])
        return len(remainder) <= self.max_trailing_chars
