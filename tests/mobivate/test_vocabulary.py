"""Mobivate's words for a recipient it will not message, in refusals and receipts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mobivate.vocabulary import STATUS_CODES, receipt_reports_opted_out, says_opted_out


@pytest.mark.parametrize(
    ("status", "code", "opted_out"),
    [
        ("FAILED_RECIPIENT_BLACKLISTED", 19, True),
        ("failed_recipient_blacklisted", None, True),
        (None, 19, True),
        ("  ", 19, True),
        ("OPTED_OUT", None, True),
        ("RECIPIENT_OPTOUT", 99, True),
        ("Blacklisted", None, True),
        ("UNSUBSCRIBED", None, True),
        ("DELIVERED", 19, False),
        ("DELIVERED", 1, False),
        ("UNDELIVERABLE", 5, False),
        (None, 5, False),
        (None, None, False),
    ],
)
def test_a_receipt_reports_an_opted_out_recipient_by_its_status_name_else_its_code(
    status: str | None, code: int | None, opted_out: bool
) -> None:
    assert receipt_reports_opted_out(status, code) is opted_out


@pytest.mark.parametrize(
    "name", sorted(name for name in STATUS_CODES if name != "FAILED_RECIPIENT_BLACKLISTED")
)
def test_no_other_documented_status_reports_an_opted_out_recipient(name: str) -> None:
    assert not receipt_reports_opted_out(name, STATUS_CODES[name])
    assert not receipt_reports_opted_out(None, STATUS_CODES[name])


@given(st.text(alphabet=st.characters(blacklist_characters="oObBuU"), max_size=40))
def test_text_without_the_words_never_says_opted_out(text: str) -> None:
    assert not says_opted_out(text)
