"""The opt-out rule reads a reply's intent: a keyword with polite or explanatory words around it
opts out, a keyword in another sense does not, anything in between goes to a person. The table
below is the one in docs/pages/optouts.md."""

import re
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.optouts.keywords import DEFAULT_OPT_OUT, KeywordIntent, KeywordRules, normalise_text
from app.optouts.wording import FILLER, OTHER_SENSE_AFTER, OTHER_SENSE_BEFORE, words
from tests.support.docs import DOCS

RULES = KeywordRules()
OPT_OUT, REVIEW, NONE = KeywordIntent.OPT_OUT, KeywordIntent.REVIEW, KeywordIntent.NONE
OPT_IN, HELP = KeywordIntent.OPT_IN, KeywordIntent.HELP

EXAMPLES: list[tuple[str, KeywordIntent]] = [
    ("STOP", OPT_OUT),
    ("please stop", OPT_OUT),
    ("STOP texting me", OPT_OUT),
    ("stop!!!", OPT_OUT),
    ("S T O P", OPT_OUT),
    ("s.t.o.p please", OPT_OUT),
    ("\uff33\uff34\uff2f\uff30", OPT_OUT),  # full-width
    ("sToP", OPT_OUT),
    ("stooooop", OPT_OUT),
    ("ST\u200bOP", OPT_OUT),  # a zero-width space inside
    ("\u0405\u0422\u041e\u0420", OPT_OUT),  # Cyrillic look-alikes
    ("Stop sending me these messages, thank you", OPT_OUT),
    ("Do not text me again. STOP", OPT_OUT),
    ("Please remove me from your list, unsubscribe", OPT_OUT),
    ("Cancel my subscription", OPT_OUT),
    ("stop the deals", REVIEW),
    ("cancel my appointment", REVIEW),
    ("wtf stop", REVIEW),
    ("How do I stop these?", REVIEW),
    ("don't stop the deals", NONE),
    ("I can't stop laughing", NONE),
    ("Please stop by the shop on Friday", NONE),
    ("See you at the end of the day", NONE),
    ("stopwatch", NONE),
    ("START", OPT_IN),
    ("help", HELP),
]


@pytest.mark.parametrize(("body", "intent"), EXAMPLES, ids=[body for body, _ in EXAMPLES])
def test_documented_examples(body: str, intent: KeywordIntent) -> None:
    assert RULES.classify(body).intent is intent


def test_the_documented_table_matches_the_examples() -> None:
    page = (DOCS / "pages" / "optouts.md").read_text()
    rows = re.findall(r"^\| `([^`]*)` \| (opts out|review|nothing) \|", page, re.MULTILINE)
    shown = {"opts out": OPT_OUT, "review": REVIEW, "nothing": NONE}
    assert len(rows) >= 12
    for body, outcome in rows:
        decoded = body.encode().decode("unicode_escape") if "\\u" in body else body
        assert RULES.classify(decoded).intent is shown[outcome], body


_KEYWORDS = sorted(set(DEFAULT_OPT_OUT))
# Filler of more than one letter (runs of one-letter words are read as a spelled-out word).
_FILLER = sorted(word for word in FILLER if len(word) > 1)
_SEPARATORS = [" ", ", ", "! ", ". ", "... ", " - ", "\n", "  ", "!!! ", "? "]


@st.composite
def _polite_opt_out(draw: st.DrawFn) -> str:
    keyword = draw(st.sampled_from(_KEYWORDS))
    cased = "".join(char.upper() if draw(st.booleans()) else char.lower() for char in keyword)
    before = draw(st.lists(st.sampled_from(_FILLER), max_size=8))
    after = draw(st.lists(st.sampled_from(_FILLER), max_size=8))
    assume(not before or before[-1] not in OTHER_SENSE_BEFORE)
    assume(not after or " " in keyword or after[0] not in OTHER_SENSE_AFTER)
    parts = [*before, cased, *after]
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(_SEPARATORS)) + part
    return text


@given(_polite_opt_out())
@settings(max_examples=400)
def test_a_keyword_among_polite_filler_opts_out(body: str) -> None:
    assert RULES.classify(body).intent is OPT_OUT, body


_KEYWORD_LETTERS = ["".join(words(normalise_text(keyword))) for keyword in DEFAULT_OPT_OUT]


@given(st.text(max_size=80))
@settings(max_examples=400)
def test_text_without_a_keyword_never_opts_out_nor_goes_to_review(body: str) -> None:
    letters = "".join(words(normalise_text(body)))
    assume(not any(keyword in letters for keyword in _KEYWORD_LETTERS))
    assert RULES.classify(body).intent not in (OPT_OUT, REVIEW)


@given(
    st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9), max_size=12)
)
def test_sentences_of_other_words_never_opt_out_nor_go_to_review(sentence: list[str]) -> None:
    body = " ".join(sentence)
    letters = "".join(words(normalise_text(body)))
    assume(not any(keyword in letters for keyword in _KEYWORD_LETTERS))
    assert RULES.classify(body).intent not in (OPT_OUT, REVIEW)


@given(st.sampled_from(sorted(OTHER_SENSE_BEFORE)), st.sampled_from(_KEYWORDS))
def test_a_keyword_right_after_a_negation_or_noun_marker_never_opts_out(
    before: str, keyword: str
) -> None:
    assert RULES.classify(f"{before} {keyword}").intent is not OPT_OUT


@given(st.text(max_size=40), st.sampled_from(_KEYWORDS), st.text(max_size=40))
def test_a_keyword_in_any_text_is_classified_without_error(
    before: str, keyword: str, after: str
) -> None:
    assert RULES.classify(before + keyword + after).intent in set(KeywordIntent)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("50k keywords", "stop " * 50_000),
        ("keywords with invisible characters", "S\u200bT\u200bO\u200bP " * 20_000),
        ("look-alike keywords and emoji", "\u0455\u0442\u043e\u0440 \U0001f600 " * 15_000),
        ("spelled-out letters", "s " * 125_000),
        ("hyphenated keywords", "opt-out " * 30_000),
    ],
)
def test_a_huge_hostile_reply_is_read_in_bounded_time_and_never_confidently(
    name: str, body: str
) -> None:
    """The reply is read up to 10,000 characters: the cost stays linear (a quadratic search once
    took 8 seconds for 160 kB), and a reply read in part is at most for review."""
    started = time.perf_counter()
    match = RULES.classify(body)
    assert time.perf_counter() - started < 2.0, name
    assert match.intent is not OPT_OUT


def test_a_keyword_beyond_the_part_read_is_not_seen() -> None:
    assert RULES.classify("hello " * 2_000 + "stop").intent is NONE
    assert RULES.classify("stop " + "hello " * 2_000).intent is REVIEW
