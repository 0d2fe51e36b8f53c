"""API tokens carry scopes: a read-only token reads everything and writes nothing; a missing
scope is a 403 naming it; Idempotency-Keys are kept per token."""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.api.deps import required_scope
from app.config import ALL_SCOPES, Scope, Settings, parse_tokens
from tests.support.app import API_TOKEN, RunningApp, client_from, make_settings, start_app
from tests.support.harness import sending_settings, start_harness
from tests.support.sse import open_stream

READER = "read-only-dashboard-token"
SENDER = "campaign-tool-token"
OPTOUT_WRITER = "crm-optouts-token"
TICKET_PATH = "/api/v1/events/stream-ticket"
STREAM_PATH = "/api/v1/events/stream"
# Reads that need a parameter to answer 200.
QUERIES = {"/api/v1/stats/funnel": {"window": "24h"}}


def scoped_tokens() -> str:
    return f"{API_TOKEN}, {SENDER}:send, {OPTOUT_WRITER}:read+optouts:write"


@pytest.fixture
async def scoped(database_url: str) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, api_tokens=scoped_tokens(), api_read_tokens=READER)
    async with start_app(settings) as running:
        yield running


def operations(running: RunningApp) -> list[tuple[str, str, Scope, bool]]:
    """Every /api/v1 operation of the app (from its OpenAPI document, which lists every route),
    path parameters filled, with the scope it needs and whether it names one item (which may
    not exist: 404)."""
    found: list[tuple[str, str, Scope, bool]] = []
    for template, methods in running.app.openapi()["paths"].items():
        if not template.startswith("/api/v1"):
            continue
        path = re.sub(r"\{([a-z_]*msisdn|number)\}", "447700900123", template)
        path = re.sub(r"\{[a-z_]+\}", "1", path)
        for method, operation in methods.items():
            scope = required_scope(operation, method.upper())
            found.append((method.upper(), path, scope, path != template))
    return found


def as_token(running: RunningApp, token: str) -> httpx.AsyncClient:
    return client_from(running.app, "203.0.113.7", Authorization=f"Bearer {token}")


async def test_a_read_only_token_gets_403_on_every_write_and_200_on_reads(
    scoped: RunningApp,
) -> None:
    routes = operations(scoped)
    writes = [(m, p) for m, p, _, _ in routes if m != "GET" and p != TICKET_PATH]
    assert {("POST", "/api/v1/messages"), ("DELETE", "/api/v1/optouts/447700900123")} <= set(writes)
    async with as_token(scoped, READER) as reader:
        for method, path in writes:
            response = await reader.request(method, path, json={})
            assert response.status_code == 403, (method, path, response.text)
            assert "scope" in response.json()["detail"]
        reads = 0
        for method, path, scope, one_item in routes:
            if method != "GET" or path == STREAM_PATH:
                continue
            response = await reader.get(path, params=QUERIES.get(path))
            if scope is not Scope.READ:
                assert response.status_code == 403, (path, response.text)
            elif one_item:
                assert response.status_code in (200, 404), (path, response.text)
            else:
                assert response.status_code == 200, (path, response.text)
                reads += 1
        assert reads >= 8
        ticket = await reader.post(TICKET_PATH)
        assert ticket.status_code == 200, ticket.text


async def test_a_missing_scope_is_named_in_the_403(scoped: RunningApp) -> None:
    async with as_token(scoped, SENDER) as sender:
        refused = await sender.post("/api/v1/optouts", json={"msisdn": "+447700900123"})
        assert refused.status_code == 403
        assert refused.json()["detail"] == (
            "this token lacks the 'optouts:write' scope that POST /api/v1/optouts needs"
        )
        read = await sender.get("/api/v1/receipts")
        assert read.status_code == 403
        assert "'read'" in read.json()["detail"]
        # The send scope passes the token check; sending itself is not configured here.
        assert (await sender.post("/api/v1/messages", json={})).status_code == 422
    async with as_token(scoped, OPTOUT_WRITER) as writer:
        opted = await writer.post("/api/v1/optouts", json={"msisdn": "+447700900123"})
        assert opted.status_code == 201, opted.text
        assert (await writer.get("/api/v1/optouts")).status_code == 200
        sent = await writer.post("/api/v1/messages", json={"to": "+447700900123", "text": "x"})
        assert sent.status_code == 403
        assert "'send'" in sent.json()["detail"]


async def test_a_bare_token_keeps_every_scope(scoped: RunningApp) -> None:
    opted = await scoped.client.post("/api/v1/optouts", json={"msisdn": "+447700900124"})
    assert opted.status_code == 201
    assert (await scoped.client.get("/api/v1/receipts")).status_code == 200
    assert (await scoped.client.delete("/api/v1/optouts/447700900124")).status_code == 200


async def test_a_read_only_token_streams_the_feed_with_a_ticket(scoped: RunningApp) -> None:
    async with as_token(scoped, SENDER) as sender:
        refused = await sender.post(TICKET_PATH)
        assert refused.status_code == 403
    async with as_token(scoped, READER) as reader:
        ticket = (await reader.post(TICKET_PATH)).json()["ticket"]
    async with open_stream(scoped.app, params={"ticket": ticket}, token=False) as stream:
        assert stream.status == 200
    async with open_stream(
        scoped.app, headers={"Authorization": f"Bearer {SENDER}"}, token=False
    ) as stream:
        assert stream.status == 403
        assert "'read'" in stream.body


async def test_every_operation_documents_the_scope_it_needs(scoped: RunningApp) -> None:
    document = scoped.app.openapi()
    send = document["paths"]["/api/v1/messages"]["post"]
    assert send["x-required-scope"] == "send"
    assert "403" in send["responses"]
    assert document["paths"]["/api/v1/optouts"]["post"]["x-required-scope"] == "optouts:write"


async def test_idempotency_keys_are_kept_per_token(database_url: str) -> None:
    settings = sending_settings(database_url, api_tokens=f"{API_TOKEN},{SENDER}:send")
    body = {"to": "+447700900123", "text": "Hello"}
    async with start_harness(settings) as harness:
        headers = {"Idempotency-Key": "same-key"}
        first = await harness.client.post("/api/v1/messages", json=body, headers=headers)
        async with as_token(harness.running, SENDER) as sender:
            other = await sender.post("/api/v1/messages", json=body, headers=headers)
            again = await sender.post("/api/v1/messages", json=body, headers=headers)
        assert (first.status_code, other.status_code, again.status_code) == (201, 201, 201)
        assert other.json()["id"] != first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == other.json()
        assert len(harness.calls("/send/single")) == 2


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("api_tokens", "tok-a:raed", "unknown scope 'raed'"),
        ("api_tokens", "tok-a:read+", "unknown scope ''"),
        ("api_tokens", ":read", "has scopes but no token"),
        ("api_tokens", "tok-a,tok-a:read", "repeats a token"),
        ("api_read_tokens", "tok-a:send", "without scopes"),
    ],
    ids=["misspelt", "dangling plus", "no token", "twice", "scopes in read tokens"],
)
def test_a_wrong_token_setting_is_refused_without_quoting_the_token(
    setting: str, value: str, expected: str
) -> None:
    values: dict[str, Any] = {"environment": "development", setting: value}
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **values)
    assert expected in str(refused.value)
    assert "tok-a" not in str(refused.value)


def test_a_token_in_both_settings_is_refused() -> None:
    with pytest.raises(ValidationError, match="also listed in API_TOKENS"):
        Settings(_env_file=None, api_tokens="tok-b", api_read_tokens="tok-b")


def test_the_documented_syntax() -> None:
    tokens = parse_tokens(" tok1 , tok2:read+send ,, tok3: optouts:write + admin ", "API_TOKENS")
    assert tokens == {
        "tok1": ALL_SCOPES,
        "tok2": {Scope.READ, Scope.SEND},
        "tok3": {Scope.OPTOUTS_WRITE, Scope.ADMIN},
    }


TOKENS = st.from_regex(r"[A-Z0-9]{8,16}", fullmatch=True)


@given(st.lists(st.tuples(TOKENS, st.text(max_size=20)), max_size=4))
def test_any_setting_parses_or_is_refused_without_quoting_a_token(
    entries: list[tuple[str, str]],
) -> None:
    value = ",".join(token + rest for token, rest in entries)
    try:
        tokens = parse_tokens(value, "API_TOKENS")
    except ValueError as error:
        refused = str(error)
        assert all(token not in refused for token, _ in entries)
        return
    for token, scopes in tokens.items():
        assert token
        assert ":" not in token
        assert "," not in token
        assert scopes
        assert scopes <= ALL_SCOPES
