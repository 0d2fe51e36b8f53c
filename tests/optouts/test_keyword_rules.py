import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.optouts.keywords import (
    DEFAULT_HELP,
    DEFAULT_OPT_IN,
    DEFAULT_OPT_OUT,
    KeywordIntent,
    KeywordMatch,
    KeywordRules,
    normalise_text,
)

RULES = KeywordRules()

OPT_OUT = KeywordIntent.OPT_OUT
OPT_IN = KeywordIntent.OPT_IN
HELP = KeywordIntent.HELP
NONE = KeywordIntent.NONE


@pytest.mark.parametrize(
    ("body", "intent", "keyword"),
    [
        ("STOP", OPT_OUT, "STOP"),
        ("stop", OPT_OUT, "STOP"),
        (" Stop. ", OPT_OUT, "STOP"),
        ("STOP!", OPT_OUT, "STOP"),
        ("Stop ALL", OPT_OUT, "STOP ALL"),
        ("stop   all!!", OPT_OUT, "STOP ALL"),
        ("stopall", OPT_OUT, "STOPALL"),
        ("UNSUBSCRIBE", OPT_OUT, "UNSUBSCRIBE"),
        ("opt-out", OPT_OUT, "OPT-OUT"),
        ("Opt Out", OPT_OUT, "OPT OUT"),
        ("optout", OPT_OUT, "OPTOUT"),
        ("\uff33\uff34\uff2f\uff30", OPT_OUT, "STOP"),  # full-width STOP
        ("Stop. Thank you", OPT_OUT, "STOP"),
        ("stop please", OPT_OUT, "STOP"),
        ("STOP 🙏", OPT_OUT, "STOP"),
        ("\u00a0stop\u200b", OPT_OUT, "STOP"),
        ("Cancel", OPT_OUT, "CANCEL"),
        ("end.", OPT_OUT, "END"),
        ("Quit", OPT_OUT, "QUIT"),
        ("revoke", OPT_OUT, "REVOKE"),
        ("Don't stop", NONE, None),
        ("stopwatch", NONE, None),
        ("Please stop by the shop on Friday to collect your order", NONE, None),
        ("Stop by the shop on Friday to collect your order", NONE, None),
        ("ending", NONE, None),
        ("", NONE, None),
        ("   ", NONE, None),
        ("?!", NONE, None),
        (None, NONE, None),
        ("START", OPT_IN, "START"),
        ("unstop", OPT_IN, "UNSTOP"),
        ("Subscribe", OPT_IN, "SUBSCRIBE"),
        ("help", HELP, "HELP"),
        ("Info?", HELP, "INFO"),
        ("Help me please", HELP, "HELP"),
    ],
)
def test_default_rules_classify_message(
    body: str | None, intent: KeywordIntent, keyword: str | None
) -> None:
    assert RULES.classify(body) == KeywordMatch(intent, keyword)


def test_opt_in_remainder_at_threshold_matches_and_one_more_character_does_not() -> None:
    rules = KeywordRules(max_trailing_chars=5)
    assert rules.classify("start abcde").intent is OPT_IN
    assert rules.classify("start abcdef").intent is NONE


def test_zero_threshold_accepts_only_the_bare_opt_in_keyword() -> None:
    rules = KeywordRules(max_trailing_chars=0)
    assert rules.classify("Start!").intent is OPT_IN
    assert rules.classify("start x").intent is NONE


def test_opt_out_takes_precedence_over_opt_in_and_help() -> None:
    rules = KeywordRules(opt_out=("STOP",), opt_in=("STOP",), help=("STOP",))
    assert rules.classify("stop") == KeywordMatch(OPT_OUT, "STOP")


def test_opt_in_takes_precedence_over_help() -> None:
    rules = KeywordRules(opt_in=("YES",), help=("YES",))
    assert rules.classify("yes") == KeywordMatch(OPT_IN, "YES")


def test_longest_keyword_wins_within_an_intent() -> None:
    rules = KeywordRules(opt_out=("STOP", "STOP ALL"))
    assert rules.classify("stop all") == KeywordMatch(OPT_OUT, "STOP ALL")


def test_from_csv_uses_custom_lists() -> None:
    rules = KeywordRules.from_csv(" Arrêt , PARAR,,STOP NOW", "oui", "aide")
    assert rules.opt_out == ("Arrêt", "PARAR", "STOP NOW")
    assert rules.classify("ARRÊT") == KeywordMatch(OPT_OUT, "Arrêt")
    assert rules.classify("parar.") == KeywordMatch(OPT_OUT, "PARAR")
    assert rules.classify("stop now") == KeywordMatch(OPT_OUT, "STOP NOW")
    assert rules.classify("stop") == KeywordMatch(NONE, None)
    assert rules.classify("Oui") == KeywordMatch(OPT_IN, "oui")
    assert rules.classify("aide") == KeywordMatch(HELP, "aide")
    assert rules.classify("help") == KeywordMatch(NONE, None)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_from_csv_missing_values_mean_defaults(value: str | None) -> None:
    rules = KeywordRules.from_csv(value, value, value)
    assert rules == KeywordRules()
    assert (rules.opt_out, rules.opt_in, rules.help) == (
        DEFAULT_OPT_OUT,
        DEFAULT_OPT_IN,
        DEFAULT_HELP,
    )


def test_from_csv_rejects_a_list_of_only_commas() -> None:
    with pytest.raises(ValueError, match="contains no keywords"):
        KeywordRules.from_csv(" , ,", None, None)


def test_keyword_made_only_of_punctuation_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty once punctuation"):
        KeywordRules(opt_out=("STOP", "!!"))


def test_negative_threshold_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_trailing_chars"):
        KeywordRules(max_trailing_chars=-1)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  Stop.  ", "stop"),
        ("\uff33\uff34\uff2f\uff30\u3000\uff21\uff2c\uff2c", "stop all"),
        ("stop \t\n all", "stop all"),
        ("«STOP»", "stop"),
        ("Straße", "strasse"),
        ("...", ""),
    ],
)
def test_normalise_text(body: str, expected: str) -> None:
    assert normalise_text(body) == expected


@given(st.text())
def test_classify_never_raises(body: str) -> None:
    assert isinstance(RULES.classify(body), KeywordMatch)


@given(st.text())
def test_normalise_text_is_idempotent(body: str) -> None:
    once = normalise_text(body)
    assert normalise_text(once) == once


_DEFAULT_KEYWORDS = (
    [(keyword, OPT_OUT) for keyword in DEFAULT_OPT_OUT]
    + [(keyword, OPT_IN) for keyword in DEFAULT_OPT_IN]
    + [(keyword, HELP) for keyword in DEFAULT_HELP]
)
# Whitespace, ASCII and Unicode punctuation (quotes, ideographic and full-width marks).
_NOISE = " \t\n\u00a0\u3000.,;:!?-_'\"()[]*¡¿…«»“”\u2018\u2019。\uff01\uff1f"
_SURROUNDINGS = st.text(alphabet=st.sampled_from(_NOISE), max_size=6)


@st.composite
def _decorated_keyword(draw: st.DrawFn) -> tuple[str, KeywordIntent]:
    keyword, intent = draw(st.sampled_from(_DEFAULT_KEYWORDS))
    upper = draw(st.lists(st.booleans(), min_size=len(keyword), max_size=len(keyword)))
    cased = "".join(c.upper() if u else c.lower() for c, u in zip(keyword, upper, strict=True))
    return draw(_SURROUNDINGS) + cased + draw(_SURROUNDINGS), intent


@given(_decorated_keyword())
def test_default_keyword_with_noise_around_it_keeps_its_intent(
    case: tuple[str, KeywordIntent],
) -> None:
    body, intent = case
    assert RULES.classify(body).intent is intent
