"""The text rules on any string hypothesis can make: what is refused is exactly what would be
removed, what remains is storable UTF-8 on one log line, and a CSV cell never starts a formula."""

from hypothesis import given
from hypothesis import strategies as st

from app.api.csv import FORMULA_STARTS, neutralised
from app.core.logs import escaped
from app.core.text_rules import has_forbidden, without_forbidden

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)


@given(ANY_TEXT)
def test_stripped_text_is_storable_and_passes_the_rule(text: str) -> None:
    cleaned = without_forbidden(text)
    assert not has_forbidden(cleaned)
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")  # no lone surrogate left
    assert has_forbidden(text) == (cleaned != text)
    assert without_forbidden(cleaned) == cleaned


@given(ANY_TEXT)
def test_tab_and_line_breaks_are_kept(text: str) -> None:
    kept = "\t\n\r" + without_forbidden(text)
    assert without_forbidden(kept) == kept


@given(ANY_TEXT)
def test_an_escaped_log_field_is_one_line(text: str) -> None:
    line = escaped(text)
    assert len(line.splitlines()) <= 1
    assert not any(ord(char) < 0x20 or char == "\x7f" for char in line)


@given(ANY_TEXT)
def test_a_neutralised_cell_never_starts_a_formula_and_keeps_the_text(text: str) -> None:
    cell = neutralised(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (text, "'" + text)
