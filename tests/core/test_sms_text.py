import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.sms_text import GSM7_BASIC, GSM7_EXTENSION, Encoding, SmsSegments, analyse

GSM7 = Encoding.GSM7
UCS2 = Encoding.UCS2
EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair in UTF-16
CYRILLIC = "\u0416"  # one UTF-16 unit, not in the GSM alphabet


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsSegments(GSM7, 1, 0)),
        ("Hello", SmsSegments(GSM7, 1, 5)),
        ("a" * 160, SmsSegments(GSM7, 1, 160)),
        ("a" * 161, SmsSegments(GSM7, 2, 161)),
        ("a" * 153 * 2, SmsSegments(GSM7, 2, 306)),
        ("a" * (153 * 2 + 1), SmsSegments(GSM7, 3, 307)),
        ("€", SmsSegments(GSM7, 1, 2)),
        ("Price: 5€", SmsSegments(GSM7, 1, 10)),
        ("{[~]}|^\\\f", SmsSegments(GSM7, 1, 18)),
        ("a" * 158 + "€", SmsSegments(GSM7, 1, 160)),
        ("a" * 159 + "€", SmsSegments(GSM7, 2, 161)),
        # The escape pair is not split: "€" at septet 153 moves whole to the second part.
        ("a" * 152 + "€" + "a" * 151, SmsSegments(GSM7, 2, 305)),
        ("a" * 152 + "€" + "a" * 152, SmsSegments(GSM7, 3, 306)),
        ("a" * 153 + "€" + "a" * 151, SmsSegments(GSM7, 2, 306)),
        ("Ça coûte 5 £", SmsSegments(UCS2, 1, 12)),  # û is not GSM-7
        ("Ça va? Ñoño è 5 £ ¥ § ¿ ¡ Δ ØÆß", SmsSegments(GSM7, 1, 31)),
        ("line one\nline two\r\n", SmsSegments(GSM7, 1, 19)),
        ("tab\there", SmsSegments(UCS2, 1, 8)),
        ("ç", SmsSegments(UCS2, 1, 1)),  # only capital Ç is in the GSM alphabet
        (CYRILLIC * 70, SmsSegments(UCS2, 1, 70)),
        (CYRILLIC * 71, SmsSegments(UCS2, 2, 71)),
        (CYRILLIC * 67 * 2, SmsSegments(UCS2, 2, 134)),
        (CYRILLIC * (67 * 2 + 1), SmsSegments(UCS2, 3, 135)),
        ("€" + CYRILLIC, SmsSegments(UCS2, 1, 2)),  # extension characters are 1 unit in UCS-2
        (EMOJI, SmsSegments(UCS2, 1, 2)),
        ("Thanks " + EMOJI, SmsSegments(UCS2, 1, 9)),
        (EMOJI * 35, SmsSegments(UCS2, 1, 70)),
        (EMOJI * 35 + "a", SmsSegments(UCS2, 2, 71)),
        # The surrogate pair is not split: an emoji at unit 67 moves whole to the second part.
        ("a" * 66 + EMOJI + "a" * 65, SmsSegments(UCS2, 2, 133)),
        ("a" * 66 + EMOJI + "a" * 66, SmsSegments(UCS2, 3, 134)),
        ("a" * 67 + EMOJI + "a" * 65, SmsSegments(UCS2, 2, 134)),
    ],
)
def test_analyse(text: str, expected: SmsSegments) -> None:
    assert analyse(text) == expected


def test_whole_gsm_alphabet_is_gsm7_with_extension_characters_counted_twice() -> None:
    text = "".join(sorted(GSM7_BASIC)) + "".join(sorted(GSM7_EXTENSION))
    assert len(GSM7_BASIC) == 127  # 128 codes less ESC
    assert len(GSM7_EXTENSION) == 10
    assert analyse(text) == SmsSegments(GSM7, 1, 127 + 2 * 10)


def test_escape_character_itself_is_not_gsm7() -> None:
    assert analyse("\x1b").encoding is UCS2


def test_encoding_values_are_the_usual_names() -> None:
    assert [e.value for e in Encoding] == ["GSM-7", "UCS-2"]


_GSM_CHARS = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION))
_gsm_text = st.text(alphabet=_GSM_CHARS, max_size=700)
# Lengths around and beyond the single-part limits, where splitting matters.
_long_text = st.one_of(
    st.text(alphabet=_GSM_CHARS, min_size=140, max_size=700),
    st.text(min_size=60, max_size=400),
)


@given(_gsm_text)
def test_gsm_text_counts_septets(text: str) -> None:
    result = analyse(text)
    assert result.encoding is GSM7
    assert result.units == len(text) + sum(char in GSM7_EXTENSION for char in text)


@given(_long_text)
def test_parts_are_enough_and_never_wasteful(text: str) -> None:
    result = analyse(text)
    single, per_part = (160, 153) if result.encoding is GSM7 else (70, 67)
    if result.units <= single:
        assert result.parts == 1
    else:
        # At most one unit per part is lost to a character that moves whole to the next part.
        assert math.ceil(result.units / per_part) <= result.parts
        assert result.parts <= math.ceil(result.units / (per_part - 1))


@given(st.text(max_size=700))
def test_ucs2_units_are_utf16_code_units(text: str) -> None:
    result = analyse(text)
    if result.encoding is UCS2:
        assert result.units == len(text.encode("utf-16-le", "surrogatepass")) // 2


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC)), min_size=140, max_size=700))
def test_text_without_extension_characters_fills_every_part(text: str) -> None:
    parts = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert analyse(text) == SmsSegments(GSM7, parts, len(text))
