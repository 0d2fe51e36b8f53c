"""The fake counts SMS parts on its own, and agrees with the service's count on every text."""

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.sms_text import analyse
from app.fake_mobivate.parts import sms_parts

# GSM-7 characters, extension characters (two septets), and UCS-2 ones, surrogate pairs included.
ALPHABET = st.sampled_from([*"aZ09 .,!?@£é\n", *"{}[]~^|€\\", "ж", "中", "é", "😀", "🏽"])


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=500))
def test_the_fake_and_the_service_count_the_same_parts(text: str) -> None:
    assert sms_parts(text) == analyse(text).parts


def test_the_documented_single_part_limits() -> None:
    assert sms_parts("a" * 160) == 1
    assert sms_parts("a" * 161) == 2
    assert sms_parts("ж" * 70) == 1
    assert sms_parts("ж" * 71) == 2
    assert sms_parts("€" * 80) == 1
    # 306 septets would fill two parts of 153, but the escape pair is never split: three.
    assert sms_parts("a" * 152 + "€" + "a" * 152) == 3
