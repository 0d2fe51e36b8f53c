"""How many parts the fake says a message took, counted here without the service's own SMS code,
so the fake stays an independent check of it.

Mobivate documents 160 characters a part, 70 when the text holds characters outside GSM 7-bit,
and leaves the size of concatenated parts undocumented; the fake takes the standard 153 and 67.
GSM's extension characters take two septets, characters beyond the Basic Multilingual Plane two
UTF-16 units, and neither is split across parts.
"""

_GSM = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = "\f^{}\\[~]|€"


def sms_parts(text: str) -> int:
    if all(char in _GSM or char in _GSM_EXTENDED for char in text):
        widths = [2 if char in _GSM_EXTENDED else 1 for char in text]
        single, concatenated = 160, 153
    else:
        widths = [len(char.encode("utf-16-le")) // 2 for char in text]
        single, concatenated = 70, 67
    if sum(widths) <= single:
        return 1
    parts, room = 1, concatenated
    for width in widths:
        if width > room:
            parts, room = parts + 1, concatenated
        room -= width
    return parts
