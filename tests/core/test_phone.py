import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.phone import InvalidPhoneNumber, mask_msisdn, normalise_msisdn, validate_international


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 7700 900123", "447700900123"),
        ("0044 7700 900123", "447700900123"),
        ("00447700900123", "447700900123"),
        ("447700900123", "447700900123"),
        ("(44) 7700-900.123", "447700900123"),
        ("  +44\t7700\u00a0900123 \n", "447700900123"),
        ("+1 (202) 555-0123", "12025550123"),
        ("4400000000", "4400000000"),
        ("123456", "123456"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_normalise_msisdn_accepts(raw: str, expected: str) -> None:
    assert normalise_msisdn(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "has 0 digits"),
        ("   ", "has 0 digits"),
        ("+", "has 0 digits"),
        ("12345", "has 5 digits"),
        ("00 12345", "has 5 digits"),
        ("1234567890123456", "has 16 digits"),
        ("44 7700 CALLME", "'C' is not allowed"),
        ("447700900123x12", "'x' is not allowed"),
        ("44/7700/900123", "'/' is not allowed"),
        ("44 7700 900123+", "'\\+' is not allowed"),
        ("++447700900123", "'\\+' is not allowed"),
        ("\uff14\uff14\uff17\uff17\uff10\uff10\uff19\uff10\uff10", "is not allowed"),  # full-width
        ("07700 900123", "starts with 0"),
        ("+07700900123", "starts with 0"),
        ("000447700900123", "starts with 0"),
    ],
)
def test_normalise_msisdn_rejects(raw: str, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=message) as caught:
        normalise_msisdn(raw)
    assert caught.value.value == raw
    assert str(caught.value).startswith(repr(raw))


@pytest.mark.parametrize("raw", ["07700 900123", "44 7700 900123 ext", "4477009001234567"])
def test_rejection_reason_does_not_repeat_the_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise_msisdn(raw)
    assert "900123" not in caught.value.reason


def test_invalid_phone_number_is_a_value_error_and_pickles() -> None:
    error = InvalidPhoneNumber("12", "is not a phone number: too short")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.value, copy.reason, str(copy)) == (error.value, error.reason, str(error))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 7700 900123", "447700900123"),
        ("0044 7700 900123", "447700900123"),
        ("+1 202 555 0123", "12025550123"),
        ("+61 412 345 678", "61412345678"),
    ],
)
def test_validate_international_returns_registry_form(raw: str, expected: str) -> None:
    assert validate_international(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("+44 12", "has 4 digits"),
        ("+999 123 456", "not a possible international phone number: it does not start with"),
        ("+1 234 567", "for country code \\+1: too few digits"),
        ("+44 7700 9001 2345", "for country code \\+44: too many digits"),
        ("+44 12345", "only valid for local dialling"),
        ("07700 900123", "starts with 0"),
        ("44 7700 CALLME", "is not allowed"),
    ],
)
def test_validate_international_rejects(raw: str, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=message):
        validate_international(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("447700900123", "4477******23"),
        ("+44 7700 900123", "4477******23"),
        ("0044 7700 900123", "4477******23"),
        ("123456789012345", "1234*********45"),
        ("4400000000", "440*****00"),
        ("12345678", "12****78"),
        ("123456", "12***6"),
        ("12345", "*****"),
        ("1", "*"),
        ("abc", "<no digits>"),
        ("", "<no digits>"),
        (None, "<none>"),
        ("tel: 07700 900123", "077******23"),
    ],
)
def test_mask_msisdn(raw: str | None, expected: str) -> None:
    assert mask_msisdn(raw) == expected


_msisdns = st.from_regex(r"[1-9][0-9]{5,14}", fullmatch=True)


@given(_msisdns)
def test_normalise_msisdn_is_idempotent(number: str) -> None:
    once = normalise_msisdn(number)
    assert normalise_msisdn(once) == once


@given(st.text(alphabet="0123456789+-.() \t", max_size=30))
def test_normalise_msisdn_outputs_are_fixed_points(raw: str) -> None:
    try:
        once = normalise_msisdn(raw)
    except InvalidPhoneNumber:
        return
    assert once.isdigit()
    assert normalise_msisdn(once) == once


@given(st.text())
def test_normalise_msisdn_returns_digits_or_raises_invalid_phone_number(raw: str) -> None:
    try:
        number = normalise_msisdn(raw)
    except InvalidPhoneNumber:
        return
    assert number.isascii()
    assert number.isdigit()


@given(st.from_regex(r"[0-9]{6,20}", fullmatch=True), st.sampled_from(["", "+", "00", "+00"]))
def test_mask_never_reveals_the_whole_number(number: str, prefix: str) -> None:
    raw = prefix + number
    masked = mask_msisdn(raw)
    assert number not in masked
    assert sum(char.isdigit() for char in masked) <= sum(char.isdigit() for char in raw) // 2
    try:
        registry_form = normalise_msisdn(raw)
    except InvalidPhoneNumber:
        return
    assert registry_form not in masked
