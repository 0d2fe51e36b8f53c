"""Phone numbers: one identity per person (E.164), the digits Mobivate expects, masking for logs.

Every number that enters the service is resolved with libphonenumber to E.164
(``+447700900123``) before it is compared, stored or sent (``resolve_msisdn``). These spellings of
one phone all resolve to the same E.164:

- E.164 and international form with spaces, dashes, dots, slashes or brackets
  (``+44 7700 900123``, ``+44-7700-900-123``, ``+44 (7700) 900.123``);
- the ``00`` international prefix (``0044 7700 900123``);
- bare international digits, as Mobivate writes them (``447700900123``);
- RFC 3966 (``tel:+44-7700-900123``; parameters such as ``;ext=`` are refused);
- the trunk digit written after the country code, bracketed or not
  (``+44 (0)7700 900123``, ``4407700900123``);
- national form (``07700 900123``) when ``DEFAULT_REGION`` names the country (ISO 3166 alpha-2);
  without it a national number cannot be resolved.

A number is accepted when libphonenumber finds its length possible for its country
(``IS_POSSIBLE``; lengths valid only for local dialling, e.g. ``+44 12345``, are refused). That is
a length check, not proof that the number is assigned: reserved ranges such as the UK's
``07700 900xxx`` resolve.

Reading bare digits (no ``+``, ``00`` or ``tel:+``) when ``DEFAULT_REGION`` is set, in order:

1. digits starting with the region's trunk prefix (``0`` in most countries) read only as a
   national number: no country code starts with ``0``;
2. digits starting with the region's own country code read as international (``447700900123``
   with ``GB``), as Mobivate writes a domestic number;
3. when only one reading is possible, or both give the same number, that one;
4. when both are possible and differ, the one libphonenumber knows as an assigned range
   (``is_valid_number``), if only one is;
5. otherwise the number is ambiguous (``(201) 555-0123`` with ``US`` also reads as Egyptian
   ``+2015550123``): ``resolve_msisdn`` refuses it, so a send or an operator's change names its
   person with ``+`` and the country code; ``resolve_readings`` returns both readings, so a STOP
   from such a sender opts out both (see ``app.optouts.incoming``).

``mobivate_digits`` is what Mobivate is sent: the E.164 digits without the ``+``.

``mask_msisdn`` is what logs may show: at most half of the digits, never more than the first
four and the last two (``+44 7700 900123`` -> ``4477******23``); fewer than six digits are
masked completely. ``None`` and values without digits give a placeholder.
"""

from __future__ import annotations

import re
from typing import NoReturn

import phonenumbers
from phonenumbers import PhoneNumber, ValidationResult

__all__ = [
    "InvalidPhoneNumber",
    "mask_msisdn",
    "mobivate_digits",
    "resolve_msisdn",
    "resolve_readings",
]

MIN_DIGITS = 6
# Fewer digits are not a phone number in any spelling (libphonenumber judges the rest).
MIN_PARSED_DIGITS = 3
# Longer text is not a phone number spelling, whatever it holds.
MAX_LENGTH = 64
_SEPARATORS = frozenset("-./()")
_TEL = re.compile(r"tel:", re.IGNORECASE)
_LENGTH_PROBLEMS = {
    ValidationResult.TOO_SHORT: "too few digits",
    ValidationResult.TOO_LONG: "too many digits",
    ValidationResult.INVALID_LENGTH: "no number has that length",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: (
        "that length is only valid for local dialling (is the area code missing?)"
    ),
}


class InvalidPhoneNumber(ValueError):
    """``str()`` includes the rejected value; ``reason`` alone is safe to log."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(value, reason)
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.value!r} {self.reason}"


def resolve_msisdn(raw: str, region: str | None = None) -> str:
    """The E.164 form of `raw`; raises InvalidPhoneNumber saying why there is none, or that
    there are two (rule 5)."""
    readings = resolve_readings(raw, region)
    if len(readings) == 1:
        return readings[0]
    international, national = readings
    raise InvalidPhoneNumber(
        raw,
        f"is ambiguous: it reads as {international} (international digits) and as {national} "
        f"(a national number of DEFAULT_REGION {region}); write it with + and the country code",
    )


def resolve_readings(raw: str, region: str | None = None) -> tuple[str, ...]:
    """The E.164 readings of `raw`: one, or two when it is ambiguous (international first);
    raises InvalidPhoneNumber when there is none."""
    text = _clean(raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        return (_e164(_possible(raw, text, None)),)
    digits = "".join(char for char in text if char.isdigit())
    if region is None:
        if digits.startswith("0"):
            raise InvalidPhoneNumber(
                raw,
                "is in national form (it starts with 0): write it with + and the country code, "
                "or set DEFAULT_REGION",
            )
        return (_e164(_possible(raw, "+" + digits, None)),)
    national = _attempt(text, region)
    international = None if digits.startswith("0") else _attempt("+" + digits, None)
    if international is None:
        if national is None:
            _refuse(raw, text if digits.startswith("0") else "+" + digits, region)
        return (_e164(national),)
    own_code = str(phonenumbers.country_code_for_region(region))
    if national is None or digits.startswith(own_code):
        return (_e164(international),)
    if _e164(national) == _e164(international):
        return (_e164(national),)
    national_valid = phonenumbers.is_valid_number(national)
    if national_valid != phonenumbers.is_valid_number(international):
        return (_e164(national if national_valid else international),)
    return (_e164(international), _e164(national))


def mobivate_digits(e164: str) -> str:
    """The recipient as Mobivate expects it: international digits without `+`."""
    return e164.removeprefix("+")


def mask_msisdn(raw: str | None) -> str:
    if raw is None:
        return "<none>"
    digits = "".join(char for char in raw if "0" <= char <= "9")
    if digits.startswith("00"):
        digits = digits[2:]
    if not digits:
        return "<no digits>"
    if len(digits) < MIN_DIGITS:
        return "*" * len(digits)
    visible = len(digits) // 2
    tail = min(2, visible // 2)
    head = min(4, visible - tail)
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail :]


def _clean(raw: str) -> str:
    """`raw` without surrounding space and any `tel:` prefix, if it holds only what a phone
    number spelling may hold; raises InvalidPhoneNumber otherwise."""
    text = raw.strip()
    if len(text) > MAX_LENGTH:
        raise InvalidPhoneNumber(
            raw, f"is not a phone number: it is longer than {MAX_LENGTH} characters"
        )
    if _TEL.match(text):
        text = text[4:].strip()
        if ";" in text:
            raise InvalidPhoneNumber(
                raw,
                "has RFC 3966 parameters (';...'), which are not supported: give the number "
                "alone, e.g. tel:+44-7700-900123",
            )
    for position, char in enumerate(text):
        if "0" <= char <= "9" or char in _SEPARATORS or char.isspace():
            continue
        if char == "+" and position == 0:
            continue
        raise InvalidPhoneNumber(
            raw,
            f"is not a phone number: {char!r} is not allowed; use digits with an optional "
            "leading '+' or '00', separated only by spaces, dashes, dots, slashes or brackets",
        )
    text = "".join(" " if char.isspace() else char for char in text)
    if sum(1 for char in text if char.isdigit()) < MIN_PARSED_DIGITS:
        raise InvalidPhoneNumber(
            raw, f"is not a phone number: it has fewer than {MIN_PARSED_DIGITS} digits"
        )
    return text


def _attempt(text: str, region: str | None) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    return number


def _refuse(raw: str, text: str, region: str | None) -> NoReturn:
    """Raises the reason `text` is not a possible number."""
    _possible(raw, text, region)
    raise InvalidPhoneNumber(raw, "is not a possible phone number")


def _possible(raw: str, text: str, region: str | None) -> PhoneNumber:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(
            raw,
            "is not a possible phone number: it does not start with a known country code",
        ) from None
    result = phonenumbers.is_possible_number_with_reason(number)
    if result != ValidationResult.IS_POSSIBLE:
        problem = _LENGTH_PROBLEMS.get(result, "it is not a possible number")
        raise InvalidPhoneNumber(
            raw,
            f"is not a possible phone number for country code +{number.country_code}: {problem}",
        )
    return number


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
