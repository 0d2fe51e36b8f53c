"""Keyword rules for inbound messages: opt-out, opt-in and help, and replies for a person to review.

Normalisation (``normalise_text``): Unicode NFKC, case-fold, NFKC again (case-folding can
un-normalise a few characters), collapse every run of whitespace to one space, then strip
surrounding whitespace, punctuation, symbols (emoji included) and invisible control/format
characters from both ends. Keywords are normalised the same way, so full-width ``STOP!``,
``" Stop. "`` and ``"stop"`` are all the keyword ``STOP``. The opt-out rule then reads the
message word by word (``app.optouts.wording.words``: spaced-out letters joined, repeated letters
and look-alike Cyrillic or Greek letters read as the Latin word).

Opt-out (tried first): each place where the words of an opt-out keyword occur is

* in another sense when the word before it is a negation or a noun marker (``don't stop``,
  ``the end``), or when a one-word keyword is followed by a particle that makes it a phrase
  (``stop by``, ``end of``); otherwise it is meant.

The reply **opts out** when a keyword is meant and every other word is polite or explanatory
filler (``please``, ``texting me``, ``thank you``, numbers; the list is in ``wording.FILLER``)
and the reply has at most 40 words. Only the first 10,000 characters of the normalised reply
are read for opt-out keywords (a longer one is at most for review), so the cost of a reply is
bounded whatever its size (measured: 250 kB of hostile text in 8 to 30 ms, about as before
this rule). It goes to the **review queue** (``KeywordIntent.REVIEW``) when a keyword is meant
but other words are not filler (``stop the deals``, ``cancel my appointment``). A reply whose
every keyword is in another sense (``don't stop the deals``, ``I can't stop laughing``) does not
opt out and is not reviewed.

Opt-in and help (tried when the reply is neither an opt-out nor for review): the normalised
message equals a keyword, or starts with the keyword, the next character is whitespace or
punctuation/symbol, and the remainder (leading separator stripped) is at most
``max_trailing_chars`` characters long (default 20): ``START``, ``Help me please``.

Precedence: opt-out, then opt-in, then help; the first intent with a match wins, and within an
intent the longest matching keyword wins (``"STOP ALL"`` over ``"STOP"``). The match reports the
keyword as configured, e.g. ``"STOP ALL"``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from app.optouts.wording import (
    MAX_CONFIDENT_WORDS,
    MAX_READ_CHARS,
    OTHER_SENSE_AFTER,
    OTHER_SENSE_BEFORE,
    is_filler,
    words,
)

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
    # Holds an opt-out keyword, but not confidently an opt-out: a person decides.
    REVIEW = "review"
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
    # Opt-out keywords as words, by their first word: (words, normalised, keyword as
    # configured), most words first.
    _opt_out_words: dict[str, tuple[tuple[tuple[str, ...], str, str], ...]] = field(
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
        opt_out_words = [
            (tuple(words(normalised)), normalised, keyword) for normalised, keyword in table[0][1]
        ]
        opt_out_words.sort(key=lambda entry: (len(entry[0]), len("".join(entry[0]))), reverse=True)
        by_first: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        for entry in opt_out_words:
            if entry[0]:
                by_first.setdefault(entry[0][0], []).append(entry)
        object.__setattr__(
            self, "_opt_out_words", {first: tuple(found) for first, found in by_first.items()}
        )

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
        opt_out = self._opt_out(text, words(text[:MAX_READ_CHARS]))
        if opt_out is not None:
            if len(text) > MAX_READ_CHARS:  # read in part: never confident
                return KeywordMatch(KeywordIntent.REVIEW, opt_out.keyword)
            return opt_out
        for intent, entries in self._table[1:]:
            for normalised, keyword in entries:
                if self._matches(text, normalised):
                    return KeywordMatch(intent, keyword)
        return _NO_MATCH

    def _opt_out(self, text: str, message: list[str]) -> KeywordMatch | None:
        """OPT_OUT or REVIEW with the keyword meant, or None (no keyword, or only in another
        sense). Linear in the length of the reply: a long one stops at its first keyword meant
        (it goes to review whatever follows)."""
        long = len(message) > MAX_CONFIDENT_WORDS
        written: dict[str, bool] = {}
        covered = [False] * len(message)
        meant: list[str] = []
        position = 0
        while position < len(message):
            found = self._keyword_at(text, message, position, written)
            if found is None:
                position += 1
                continue
            size, keyword = found
            if not self._other_sense(message, position, size):
                if long:
                    return KeywordMatch(KeywordIntent.REVIEW, keyword)
                meant.append(keyword)
            for index in range(position, position + size):
                covered[index] = True
            position += size
        if not meant:
            return None
        keyword = max(meant, key=len)
        others = [word for word, used in zip(message, covered, strict=True) if not used]
        if all(is_filler(word) for word in others):
            return KeywordMatch(KeywordIntent.OPT_OUT, keyword)
        return KeywordMatch(KeywordIntent.REVIEW, keyword)

    def _keyword_at(
        self, text: str, message: list[str], position: int, written: dict[str, bool]
    ) -> tuple[int, str] | None:
        """The longest keyword whose words start at `position`; among keywords with the same
        words (``OPT OUT``, ``OPT-OUT``) the one written as in the message (`written` keeps what
        was looked up, so the reply is searched once per keyword)."""
        candidates: list[tuple[str, str]] = []
        size = 0
        for keyword_words, normalised, keyword in self._opt_out_words.get(message[position], ()):
            if candidates and len(keyword_words) < size:
                break
            if tuple(message[position : position + len(keyword_words)]) == keyword_words:
                size = len(keyword_words)
                candidates.append((normalised, keyword))
        if len(candidates) <= 1:
            return (size, candidates[0][1]) if candidates else None
        for normalised, keyword in candidates:
            if normalised not in written:
                written[normalised] = normalised in text
            if written[normalised]:
                return size, keyword
        return size, candidates[0][1]

    @staticmethod
    def _other_sense(message: list[str], position: int, size: int) -> bool:
        if position > 0 and message[position - 1] in OTHER_SENSE_BEFORE:
            return True
        after = position + size
        return size == 1 and after < len(message) and message[after] in OTHER_SENSE_AFTER

    def _matches(self, text: str, keyword: str) -> bool:
        if text == keyword:
            return True
        if not text.startswith(keyword) or not _is_separator(text[len(keyword)]):
            return False
        remainder = _strip_edges(text[len(keyword) :])
        return len(remainder) <= self.max_trailing_chars
