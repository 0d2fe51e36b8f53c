"""Every `/api/v1` endpoint needs a bearer token from API_TOKENS; webhooks and probes do not."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.app import API_TOKEN, WEBHOOK_SECRET, RunningApp, make_settings, start_app

ROTATED = "next-api-token-after-rotation"


@pytest.fixture
async def two_tokens(database_url: str) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, api_tokens=f"{API_TOKEN}, {ROTATED}")
    async with start_app(settings) as running:
        yield running


def api_routes(running: RunningApp) -> list[tuple[str, str]]:
    """Every operation under /api/v1, from the OpenAPI document, with path parameters filled."""
    routes: list[tuple[str, str]] = []
    for template, operations in running.app.openapi()["paths"].items():
        if template.startswith("/api/v1"):
            path = re.sub(r"\{[a-z_]*msisdn\}", "447700900123", template)
            path = re.sub(r"\{[a-z_]+\}", "1", path)
            routes.extend((method.upper(), path) for method in operations)
    return routes


async def call(client: httpx.AsyncClient, method: str, path: str, **headers: str) -> httpx.Response:
    return await client.request(method, path, headers=headers)


async def test_every_api_endpoint_refuses_missing_and_wrong_tokens(
    two_tokens: RunningApp,
) -> None:
    routes = api_routes(two_tokens)
    expected = {"/api/v1/receipts", "/api/v1/incoming", "/api/v1/clicks", "/api/v1/stats"}
    assert expected | {"/api/v1/events/stream"} <= {path for _, path in routes}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=two_tokens.app), base_url="http://testserver"
    ) as anonymous:
        for method, path in routes:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}):
                response = await call(anonymous, method, path, **headers)
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json()["detail"]


async def test_either_of_two_tokens_is_accepted_for_rotation(two_tokens: RunningApp) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=two_tokens.app), base_url="http://testserver"
    ) as client:
        for token in (API_TOKEN, ROTATED):
            for path in ("/api/v1/receipts", "/api/v1/incoming", "/api/v1/clicks", "/api/v1/stats"):
                response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, (path, response.text)


async def test_without_configured_tokens_the_api_says_how_to_enable_it(database_url: str) -> None:
    async with start_app(make_settings(database_url, api_tokens=None)) as running:
        response = await running.client.get("/api/v1/receipts")
        assert response.status_code == 401
        assert "API_TOKENS" in response.json()["detail"]
        # Webhooks and probes are not behind the token.
        stored = await running.client.post(
            f"/webhooks/{WEBHOOK_SECRET}/incoming",
            json={"id": "X1", "originator": "447700900123", "body": "hi"},
            headers={"Authorization": ""},
        )
        assert stored.status_code == 200
        assert (await running.client.get("/healthz")).status_code == 200
