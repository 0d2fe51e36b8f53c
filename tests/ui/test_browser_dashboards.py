"""In Chromium, a dashboard page on another origin: listed in CORS_ALLOW_ORIGINS, it gets a
stream ticket with the bearer token and follows the live feed with `EventSource(url +
"?ticket=...")`; on an origin that is not listed, the browser gets neither."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.support.app import API_TOKEN
from tests.support.bodies import incoming
from tests.support.browser import Browser, chromium, screenshot_folder
from tests.support.harness import sending_settings, start_harness
from tests.support.served import served
from tests.support.webhooks import webhook_url

# A third party's dashboard: it knows the API's address and a token, nothing of the service.
DASHBOARD = """<!doctype html>
<html><head><meta charset="utf-8"><title>dashboard</title></head>
<body><p id="state">idle</p><ol id="events"></ol>
<script>
async function follow(api, token) {
  const state = document.getElementById("state");
  try {
    const answer = await fetch(api + "/api/v1/events/stream-ticket", {
      method: "POST", headers: { Authorization: "Bearer " + token } });
    const ticket = await answer.json();
    const source = new EventSource(new URL(ticket.stream_url, api) + "&kind=incoming");
    source.onopen = () => { state.textContent = "live"; };
    source.onerror = () => { state.textContent = "stream refused"; source.close(); };
    source.addEventListener("incoming", (event) => {
      const item = document.createElement("li");
      item.textContent = JSON.parse(event.data).data.body;
      document.getElementById("events").append(item);
    });
  } catch (error) {
    state.textContent = "ticket refused";
  }
}
function open_with(url) {
  const state = document.getElementById("state");
  const source = new EventSource(url);
  source.onopen = () => { state.textContent = "live"; };
  source.onerror = () => { state.textContent = "stream refused"; source.close(); };
}
</script></body></html>"""


def _dashboard_app() -> Starlette:
    async def page(request: object) -> HTMLResponse:
        return HTMLResponse(DASHBOARD)

    return Starlette(routes=[Route("/", page)])


@pytest.fixture
async def origins() -> AsyncIterator[tuple[str, str]]:
    """Two dashboards on origins of their own: the first is listed, the second is not."""
    async with served(_dashboard_app()) as listed, served(_dashboard_app()) as unlisted:
        yield listed, unlisted


@pytest.fixture
async def api(database_url: str, origins: tuple[str, str]) -> AsyncIterator[str]:
    settings = sending_settings(
        database_url, cors_allow_origins=origins[0], event_stream_keepalive_seconds=1
    )
    async with start_harness(settings) as harness, served(harness.running.app) as base:
        yield base


@pytest.fixture
async def browser(
    api: str, origins: tuple[str, str], screenshots: Path, backend: str
) -> AsyncIterator[Browser]:
    folder = screenshot_folder(screenshots, backend)
    async with chromium([api, *origins], folder) as browser:
        yield browser
        assert browser.blocked == []


async def _open(browser: Browser, origin: str) -> Page:
    page = await browser.new_page(width=800, height=400)
    await page.goto(origin + "/")
    return page


async def test_a_listed_origin_follows_the_live_feed_with_a_ticket(
    api: str, origins: tuple[str, str], browser: Browser
) -> None:
    page = await _open(browser, origins[0])
    await page.evaluate("([api, token]) => follow(api, token)", [api, API_TOKEN])
    await expect(page.locator("#state")).to_have_text("live", timeout=15_000)
    async with httpx.AsyncClient(base_url=api) as mobivate:
        body = incoming("447700900123", "Is the shop open on Sunday?")
        assert (await mobivate.post(webhook_url("incoming"), json=body)).status_code == 200
    await expect(page.locator("#events li")).to_have_text("Is the shop open on Sunday?")
    streams = [url for url in browser.requested if "/events/stream?" in url]
    assert streams
    assert all("ticket=" in url and API_TOKEN not in url for url in streams)
    await browser.screenshot(page, "dashboard-on-a-listed-origin")


async def test_an_unlisted_origin_gets_neither_a_ticket_nor_the_stream(
    api: str, origins: tuple[str, str], browser: Browser
) -> None:
    page = await _open(browser, origins[1])
    await page.evaluate("([api, token]) => follow(api, token)", [api, API_TOKEN])
    await expect(page.locator("#state")).to_have_text("ticket refused", timeout=15_000)
    async with httpx.AsyncClient(base_url=api) as client:
        ticket = await client.post(
            "/api/v1/events/stream-ticket", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
    stream_url = api + ticket.json()["stream_url"]
    await page.evaluate("(url) => open_with(url)", stream_url)
    await expect(page.locator("#state")).to_have_text("stream refused", timeout=15_000)
    await browser.screenshot(page, "dashboard-on-an-unlisted-origin")
