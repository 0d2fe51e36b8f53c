"""Spellings of libphonenumber's example mobile numbers, as people and systems write them."""

import phonenumbers
from phonenumbers import PhoneNumberFormat

# Countries whose example mobile numbers the identity tests use: trunk-prefix countries (GB, AU,
# DE, FR, IN, ZA, NZ, IE, NL, PH, ...), North America, and countries without a trunk prefix.
REGIONS = (
    "GB", "AU", "DE", "FR", "IN", "ZA", "NZ", "IE", "NL", "PH", "US", "CA", "IT", "ES", "BR",
    "MX", "JP", "SG", "KE", "NG", "SE", "CH", "AT", "BE", "PL", "AR", "CN", "MY", "ID", "NO",
)  # fmt: skip


def example_mobile(region: str) -> phonenumbers.PhoneNumber:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None, region
    return number


def e164_of(region: str) -> str:
    return phonenumbers.format_number(example_mobile(region), PhoneNumberFormat.E164)


def spellings(region: str, *, national: bool) -> dict[str, str]:
    """Common spellings of the region's example mobile number, by name; `national` adds the
    national form (which resolves only with DEFAULT_REGION set to `region`)."""
    number = example_mobile(region)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    significant = phonenumbers.national_significant_number(number)
    code = number.country_code
    written = {
        "e164": e164,
        "spaces": international,
        "dashes": international.replace(" ", "-"),
        "dots": international.replace(" ", "."),
        "brackets": f"+{code} ({significant[:3]}) {significant[3:]}",
        "00": "00" + e164[1:],
        "00 spaced": "00 " + international[1:],
        "bare digits": e164[1:],
        "rfc3966": phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
    }
    if phonenumbers.ndd_prefix_for_region(region, True) == "0":
        written["(0) trunk digit"] = f"+{code} (0){significant}"
        written["(0) spaced"] = f"+{code} (0) {international.split(' ', 1)[1]}"
        written["trunk digit after the code"] = f"{code}0{significant}"
    if national:
        written["national"] = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return written
