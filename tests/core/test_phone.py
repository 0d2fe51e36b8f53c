import pickle

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.phone import (
    InvalidPhoneNumber,
    mask_msisdn,
    mobivate_digits,
    resolve_msisdn,
    resolve_readings,
)


@pytest.mark.parametrize(
    "raw",
    [
        "+447700900123",
        "+44 7700 900123",
        "+44-7700-900-123",
        "+44.7700.900.123",
        "+44 (7700) 900123",
        "+44/7700/900123",
        "0044 7700 900123",
        "00447700900123",
        "447700900123",
        "(44) 7700-900.123",
        "  +44\t7700\u00a0900123 \n",
        "tel:+44-7700-900123",
        "TEL:+447700900123",
        "+44 (0)7700 900123",
        "+44 (0) 7700 900123",
        "4407700900123",
        "0044 (0)7700 900123",
    ],
)
def test_every_common_spelling_resolves_to_one_e164(raw: str) -> None:
    assert resolve_msisdn(raw) == "+447700900123"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07700 900123", "GB", "+447700900123"),
        ("0412 345 678", "AU", "+61412345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("011 44 7700 900123", "US", "+447700900123"),
        # Digits starting with the region's own country code read as international.
        ("4915123456789", "DE", "+4915123456789"),
        # Too long for the region's national numbers: international.
        ("447400123456", "US", "+447400123456"),
        # Only the national reading is an assigned range.
        ("7012345678", "US", "+17012345678"),
    ],
)
def test_national_form_resolves_with_a_default_region(raw: str, region: str, expected: str) -> None:
    assert resolve_msisdn(raw, region) == expected
    assert resolve_readings(raw, region) == (expected,)


def test_national_form_without_a_default_region_is_refused_saying_why() -> None:
    with pytest.raises(InvalidPhoneNumber, match=r"national form .* or set DEFAULT_REGION"):
        resolve_msisdn("07700 900123")


def test_digits_that_read_two_ways_are_refused_for_a_caller_and_both_kept_for_a_sender() -> None:
    with pytest.raises(
        InvalidPhoneNumber,
        match=r"ambiguous: it reads as \+2015550123 .* and as \+12015550123 .*DEFAULT_REGION US",
    ):
        resolve_msisdn("(201) 555-0123", "US")
    assert resolve_readings("(201) 555-0123", "US") == ("+2015550123", "+12015550123")
    assert resolve_msisdn("+1 (201) 555-0123", "US") == "+12015550123"
    assert resolve_msisdn("(201) 555-0123") == "+2015550123"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "fewer than 3 digits"),
        ("   ", "fewer than 3 digits"),
        ("+", "fewer than 3 digits"),
        ("+1", "fewer than 3 digits"),
        ("12345", "for country code \\+1: too few digits"),
        ("+44 12", "for country code \\+44: too few digits"),
        ("44 7700 CALLME", "'C' is not allowed"),
        ("1-800-FLOWERS", "'F' is not allowed"),
        ("447700900123x12", "'x' is not allowed"),
        ("44 7700 900123+", "'\\+' is not allowed"),
        ("++447700900123", "'\\+' is not allowed"),
        ("\uff14\uff14\uff17\uff17\uff10\uff10\uff19\uff10\uff10", "is not allowed"),
        ("tel:+44-7700-900123;ext=12", "RFC 3966 parameters"),
        ("tel:07700900123;phone-context=+44", "RFC 3966 parameters"),
        ("+999 123 456", "does not start with a known country code"),
        ("+1 234 567", "for country code \\+1: too few digits"),
        ("+44 7700 9001 2345", "for country code \\+44: too many digits"),
        ("+44 12345", "only valid for local dialling"),
        ("1" * 65, "longer than 64 characters"),
    ],
)
def test_resolve_msisdn_rejects(raw: str, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=message) as caught:
        resolve_msisdn(raw)
    assert caught.value.value == raw
    assert str(caught.value).startswith(repr(raw))


@pytest.mark.parametrize("raw", ["07700 900123", "44 7700 900123 ext", "4477009001234567"])
def test_rejection_reason_does_not_repeat_the_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        resolve_msisdn(raw)
    assert "900123" not in caught.value.reason


def test_invalid_phone_number_is_a_value_error_and_pickles() -> None:
    error = InvalidPhoneNumber("12", "is not a phone number: too short")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.value, copy.reason, str(copy)) == (error.value, error.reason, str(error))


def test_mobivate_is_sent_the_international_digits() -> None:
    assert mobivate_digits(resolve_msisdn("+44 (0)7700 900123")) == "447700900123"


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


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@given(st.sampled_from(REGIONS))
def test_example_mobile_numbers_resolve_from_their_international_and_national_forms(
    region: str,
) -> None:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert resolve_msisdn(international) == e164
    assert resolve_msisdn(e164[1:]) == e164
    assert e164 in resolve_readings(national, region)


@given(st.text(alphabet="0123456789+-.()/ \t", max_size=30), st.sampled_from([None, "GB", "US"]))
def test_resolved_numbers_are_fixed_points(raw: str, region: str | None) -> None:
    try:
        readings = resolve_readings(raw, region)
    except InvalidPhoneNumber:
        return
    for e164 in readings:
        assert e164.startswith("+")
        assert e164[1:].isdigit()
        assert resolve_msisdn(e164, region) == e164
        assert resolve_msisdn(e164[1:]) == e164


@given(st.text())
def test_resolve_returns_e164_or_raises_invalid_phone_number(raw: str) -> None:
    try:
        number = resolve_msisdn(raw)
    except InvalidPhoneNumber:
        return
    assert number.isascii()
    assert number[0] == "+"
    assert number[1:].isdigit()


@given(st.from_regex(r"[0-9]{6,20}", fullmatch=True), st.sampled_from(["", "+", "00", "+00"]))
def test_mask_never_reveals_the_whole_number(number: str, prefix: str) -> None:
    raw = prefix + number
    masked = mask_msisdn(raw)
    assert number not in masked
    assert sum(char.isdigit() for char in masked) <= sum(char.isdigit() for char in raw) // 2
    try:
        e164 = resolve_msisdn(raw)
    except InvalidPhoneNumber:
        return
    assert e164.removeprefix("+") not in masked
