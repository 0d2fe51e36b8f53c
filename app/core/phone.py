"""Phone numbers: one registry form, validation for sending, and masking for logs.

Registry form (``normalise_msisdn``) is how every number is stored and compared, and matches
what Mobivate sends and expects: international digits only, no ``+``, e.g. ``447700900123``.
Input may carry a leading ``+`` or ``00`` international prefix and spaces, dashes, dots or
parentheses as separators; anything else is rejected. The result must be 6 to 15 digits
(E.164 allows at most 15) and must not start with ``0``: no country code does, so a leading
``0`` means a national number such as ``07700 900123`` that would never match the same
handset's international form.

``validate_international`` is for numbers we are about to send to: on top of the registry form,
libphonenumber must consider its length possible for its country code
(``is_possible_number_with_reason`` is ``IS_POSSIBLE``). Lengths that are possible only for
local dialling, e.g. ``+44 12345``, are rejected: without an area code the number cannot be
reached from abroad. This is a length check, not proof that the number is assigned.

``mask_msisdn`` is what logs may show: at most half of the digits, never more than the first
four and the last two (``+44 7700 900123`` -> ``4477******23``); fewer than six digits are
masked completely. It masks the registry form when the value has one, otherwise every digit
found in the value; ``None`` and values without digits give a placeholder.
"""

from __future__ import annotations

import phonenumbers

__all__ = [
    "InvalidPhoneNumber",
    "mask_msisdn",
    "normalise_msisdn",
    "validate_international",
]

MIN_DIGITS = 6
MAX_DIGITS = 15
_SEPARATORS = frozenset("-.()")
_LENGTH_PROBLEMS = {
    phonenumbers.ValidationResult.TOO_SHORT: "too few digits",
    phonenumbers.ValidationResult.TOO_LONG: "too many digits",
    phonenumbers.ValidationResult.INVALID_LENGTH: "no number has that length",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: (
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


def normalise_msisdn(raw: str) -> str:
    text = raw.strip()
    if text.startswith("+"):
        text = text[1:]
    digits: list[str] = []
    for char in text:
        if "0" <= char <= "9":
            digits.append(char)
        elif not (char in _SEPARATORS or char.isspace()):
            raise InvalidPhoneNumber(
                raw,
                f"is not a phone number: {char!r} is not allowed; use digits with an optional "
                "leading '+' or '00', separated only by spaces, dashes, dots or parentheses",
            )
    number = "".join(digits)
    if number.startswith("00"):
        number = number[2:]
    if not MIN_DIGITS <= len(number) <= MAX_DIGITS:
        raise InvalidPhoneNumber(
            raw,
            f"is not a phone number: it has {len(number)} digits after the international "
            f"prefix; expected {MIN_DIGITS} to {MAX_DIGITS} including the country code",
        )
    if number.startswith("0"):
        raise InvalidPhoneNumber(
            raw,
            "is not in international form: it starts with 0 after any '+' or '00' prefix; "
            "replace the trunk 0 with the country code (a UK 07... number becomes 447...)",
        )
    return number


def validate_international(raw: str) -> str:
    number = normalise_msisdn(raw)
    try:
        parsed = phonenumbers.parse("+" + number, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(
            raw,
            "is not a possible international phone number: it does not start with a known "
            "country code",
        ) from exc
    result = phonenumbers.is_possible_number_with_reason(parsed)
    if result != phonenumbers.ValidationResult.IS_POSSIBLE:
        problem = _LENGTH_PROBLEMS.get(result, "it is not a possible number")
        raise InvalidPhoneNumber(
            raw,
            f"is not a possible international phone number for country code "
            f"+{parsed.country_code}: {problem}",
        )
    return number


def mask_msisdn(raw: str | None) -> str:
    if raw is None:
        return "<none>"
    try:
        digits = normalise_msisdn(raw)
    except InvalidPhoneNumber:
        digits = "".join(char for char in raw if "0" <= char <= "9")
    if not digits:
        return "<no digits>"
    if len(digits) < MIN_DIGITS:
        return "*" * len(digits)
    visible = len(digits) // 2
    tail = min(2, visible // 2)
    head = min(4, visible - tail)
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail :]
