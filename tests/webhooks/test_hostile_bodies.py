# ruff: noqa: E501  (the corpus reads best one body per line)
"""Hostile bodies at the three webhook endpoints, on both backends: each gets a 4xx or is stored,
never a 5xx, and its raw body is kept (up to MAX_BODY_BYTES) because it carried the right secret.
"""

from collections.abc import AsyncIterator

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.tables import WebhookRequest
from tests.support.figures import record
from tests.support.webhooks import webhook_url

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
TEN_MB = 10 * 1024 * 1024


def _nested(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a":' * depth + inner + b"}" * depth


def _form_xml(xml: bytes) -> bytes:
    from urllib.parse import quote_from_bytes

    return b"xml=" + quote_from_bytes(xml).encode()


CORPUS: list[tuple[str, bytes, str | None]] = [
    # nesting
    ("array nested 100k deep", b"[" * 100_000 + b"]" * 100_000, JSON),
    ("object nested 20k deep", _nested(20_000), JSON),
    ("hlr nested 500 deep", b'{"deliveryMessageId":"A1","hlr":' + _nested(500) + b"}", JSON),
    ("unknown field nested 1000 deep", b'{"id":"A2","x":' + b"[" * 1000 + b"]" * 1000 + b"}", JSON),
    # size
    ("10 MB string", b'{"body":"' + b"x" * TEN_MB + b'"}', JSON),
    ("200 kB string in every field", b'{"body":"' + b"y" * 200_000 + b'","status":"z"}', JSON),
    ("100 kB key", b'{"' + b"k" * 100_000 + b'":1}', JSON),
    ("50k empty objects", b"[" + b",".join([b"{}"] * 50_000) + b"]", JSON),
    # encodings
    ("invalid UTF-8 in a string", b'{"status":"\xff\xfe","body":"\xc3\x28"}', JSON),
    ("invalid UTF-8 alone", b"\xc3\x28\xa0\xa1", JSON),
    ("latin-1 declared", b'{"body":"caf\xe9"}', "application/json; charset=latin-1"),
    ("lone surrogate escape", b'{"id":"A3","body":"\\ud800","originator":"\\udfff"}', JSON),
    ("byte order mark and emoji", '\ufeff{"body":"\U0001f600\u202e\u200b"}'.encode(), JSON),
    ("invalid UTF-8 in legacy XML", _form_xml(b"<deliverymessage><body>\xff</body></deliverymessage>"), FORM),
    # NUL
    ("NUL escapes in values", b'{"id":"A\\u00004","body":"x\\u0000y","status":"\\u0000"}', JSON),
    ("NUL escapes in keys", b'{"\\u0000":"x","id\\u0000":"A5","mobile":"44\\u00001"}', JSON),
    ("NUL escapes in hlr", b'{"deliveryMessageId":"A6","hlr":{"a\\u0000":"b\\u0000","c":["\\u0000"]}}', JSON),
    ("NUL byte raw", b'{"id":"A7\x00"}', JSON),
    ("NUL in legacy XML", _form_xml(b"<deliverymessage><id>A8</id><body>a\x00b</body></deliverymessage>"), FORM),
    ("NUL in form field name", b"xml%00=1&%00=%00", FORM),
    # types
    ("numbers for strings", b'{"deliveryMessageId":123,"batchId":1.5,"status":7,"clientReference":1e300,"id":99999999999999999999999,"originator":447700900123,"mobile":-1,"url":3}', JSON),
    ("huge integer literal", b'{"statusCode":1' + b"0" * 5000 + b"}", JSON),
    ("float overflow", b'{"statusCode":1e400,"created":-1e400}', JSON),
    ("NaN and Infinity", b'{"statusCode":NaN,"parts":Infinity}', JSON),
    ("strings, lists and booleans for numbers", b'{"statusCode":"abc","parts":[1],"created":true}', JSON),
    ("objects for everything", b'{"id":{},"body":{},"originator":[],"created":{"a":1}}', JSON),
    ("control characters in ids", b'{"deliveryMessageId":"\\u0001\\u0002\\u001b","messageId":"\\t\\n"}', JSON),
    # structure
    ("duplicate keys", b'{"status":"A","status":"B","deliveryMessageId":"A9","deliveryMessageId":"B9"}', JSON),
    ("empty body", b"", JSON),
    ("whitespace", b" \r\n\t ", JSON),
    ("null", b"null", JSON),
    ("scalar string", b'"receipt"', JSON),
    ("empty array", b"[]", JSON),
    ("array of scalars", b"[1,null,\"x\",[]]", JSON),
    ("truncated JSON", b'{"id":"A10","body":"unterminated', JSON),
    ("trailing garbage", b'{"id":"A11"} {"id":"A12"}', JSON),
    # content types and XML
    ("no content type", b'{"id":"A13"}', None),
    ("text/plain", b"STOP", "text/plain"),
    ("multipart", b"--b\r\nContent-Disposition: form-data; name=\"xml\"\r\n\r\n<x/>\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    ("content type with junk parameters", b'{"id":"A14"}', "application/json; charset=\x7f; boundary=\"x"),
    ("XML entity expansion", _form_xml(b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><deliverymessage><body>&b;</body></deliverymessage>'), FORM),
    ("XML external entity", _form_xml(b'<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><deliveryreceipt><status>&e;</status></deliveryreceipt>'), FORM),
    ("XML nested 10k deep", _form_xml(b"<a>" * 10_000 + b"</a>" * 10_000), FORM),
    ("form without xml", b"a=1&b=2&xml=", FORM),
    ("form repeated xml", _form_xml(b"<deliveryreceipt/>") + b"&" + _form_xml(b"<x>"), FORM),
]  # fmt: skip


async def _chunks(body: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_hostile_bodies_get_4xx_or_are_stored_and_are_always_kept(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, backend: str
) -> None:
    limit = settings.max_body_bytes
    answers: dict[int, int] = {}
    problems: list[str] = []
    posted = 0
    for kind in ("receipt", "incoming", "click"):
        cases = [(name, body, ctype, False) for name, body, ctype in CORPUS]
        cases.append(("10 MB chunked, no length", b"[" + b" " * TEN_MB + b"]", JSON, True))
        for name, body, content_type, chunked in cases:
            headers = {"content-type": content_type} if content_type else {}
            content = _chunks(body) if chunked else body
            try:
                response = await client.post(webhook_url(kind), content=content, headers=headers)
            except Exception as exc:  # raised out of the app: a 500 behind a real server
                problems.append(f"{kind} / {name}: {type(exc).__name__}: {exc}"[:500])
                continue
            posted += 1
            answers[response.status_code] = answers.get(response.status_code, 0) + 1
            if not (response.status_code == 200 or 400 <= response.status_code < 500):
                problems.append(f"{kind} / {name}: {response.status_code} {response.text[:200]}")
                continue
            kept = body[:limit]
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(WebhookRequest.body_size, WebhookRequest.truncated).where(
                            WebhookRequest.kind == kind, WebhookRequest.body == kept
                        )
                    )
                ).all()
            # Without a declared length the service stops reading past the limit.
            size_ok = rows and (
                rows[0].body_size > limit if chunked else rows[0].body_size == len(body)
            )
            if len(rows) != 1 or not size_ok:
                problems.append(f"{kind} / {name}: raw body not kept ({len(rows)} rows)")
            elif rows[0].truncated != (len(body) > limit):
                problems.append(f"{kind} / {name}: truncated flag wrong")
    server_errors = sum(count for status, count in answers.items() if status >= 500)
    record(
        f"hostile webhook bodies ({backend})",
        posted=posted,
        answers=dict(sorted(answers.items())),
        server_errors=server_errors + len([p for p in problems if "Error" in p]),
    )
    assert not problems, "\n".join(problems)
