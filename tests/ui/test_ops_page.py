"""In Chromium, with every host but the service blocked: /docs, /redoc and the ops page render
from the service alone; an operator signs in, sees the delivery funnel, and sees a webhook posted
during the test arrive in the live feed. Screenshots are kept (the run prints where)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.app import API_TOKEN
from tests.support.bodies import at, incoming
from tests.support.browser import Browser, chromium, screenshot_folder
from tests.support.harness import Harness, send_message, sending_settings, start_harness
from tests.support.served import served
from tests.support.webhooks import post_click, post_incoming, post_receipt, webhook_url


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[tuple[Harness, str]]:
    settings = sending_settings(database_url, event_stream_keepalive_seconds=1)
    async with start_harness(settings) as harness, served(harness.running.app) as base:
        yield harness, base


@pytest.fixture
async def browser(
    service: tuple[Harness, str], screenshots: Path, backend: str
) -> AsyncIterator[Browser]:
    async with chromium([service[1]], screenshot_folder(screenshots, backend)) as browser:
        yield browser
        assert browser.blocked == []
        assert all(url.startswith(service[1] + "/") for url in browser.requested)


async def _sign_in(page: Page, base: str, token: str = API_TOKEN) -> None:
    await page.goto(base + "/")
    assert page.url == base + "/ui/"
    await page.fill("#token", token)
    await page.click("#sign-in-form button[type=submit]")


async def test_docs_and_redoc_render_from_the_service_alone(
    service: tuple[Harness, str], browser: Browser
) -> None:
    base = service[1]
    page = await browser.new_page()
    await page.goto(base + "/docs")
    await expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=20_000)
    await expect(page.get_by_text("Send one SMS").first).to_be_visible()
    await browser.screenshot(page, "swagger-ui")
    await page.goto(base + "/redoc")
    heading = page.locator("h2", has_text="Send one SMS")
    await expect(heading).to_be_visible(timeout=20_000)
    assert "+447700900123" in await page.content()
    await browser.screenshot(page, "redoc")


async def test_an_operator_signs_in_sees_the_funnel_and_the_live_feed(
    service: tuple[Harness, str], browser: Browser
) -> None:
    harness, base = service
    delivered = await send_message(harness, "+447700900123", "order-1")
    expired = await send_message(harness, "+447700900124", "order-2")
    await send_message(harness, "+447700900125", "order-3")
    for message, status, code in ((delivered, "ACCEPTED", 2), (delivered, "DELIVERED", 1)):
        await post_receipt(harness.client, message["mobivate_id"], status, code, at(1))
    await post_receipt(harness.client, expired["mobivate_id"], "EXPIRED", 3, at(2))
    await post_click(harness.client, "447700900123", delivered["mobivate_id"])
    await post_incoming(
        harness.client, "1C9A658F0A931B317B6A53BB42EC0001", "447700900123", "Thanks", at(3),
        in_reply_to=delivered["mobivate_id"],
    )  # fmt: skip
    await post_incoming(
        harness.client, "1C9A658F0A931B317B6A53BB42EC0002", "447700900127", "stop the deals", at(3)
    )  # a reply for the review queue

    page = await browser.new_page()
    await _sign_in(page, base, "wrong-token")
    await expect(page.locator("#sign-in-error")).to_contain_text("refused")

    await _sign_in(page, base)
    await expect(page.locator("#feed-state")).to_have_text("live", timeout=15_000)
    funnel = page.locator("#funnel svg")
    await expect(funnel).to_contain_text("Sent")
    await expect(page.locator("#funnel")).to_have_attribute("data-sent", "3")
    await expect(funnel).to_contain_text("1 (33.3%)")  # delivered, expired, clicks, replies
    await expect(page.locator("#ready")).to_have_text("Ready")
    await expect(page.locator("#in-flight")).to_have_text("1")
    await expect(page.locator("#sending")).to_have_text("0")
    await expect(page.locator("#sending-note")).to_contain_text("every batch is settled")
    await expect(page.locator("#review")).to_contain_text("stop the deals")
    assert await page.evaluate("sessionStorage.getItem('mobivate-hooks.token')") == API_TOKEN
    assert await page.evaluate("localStorage.length") == 0
    assert API_TOKEN not in " ".join(browser.requested)

    await page.click("button[data-window='7d']")
    await expect(page.locator("#funnel-caption")).to_contain_text("7 days")
    await page.select_option("#batch", index=0)

    async with httpx.AsyncClient(base_url=base) as mobivate:
        body = incoming("447700900126", "When does the sale end?", created=at(4))
        response = await mobivate.post(webhook_url("incoming"), json=body)
        assert response.status_code == 200
    arrived = page.locator("#feed li[data-kind=incoming]", has_text="When does the sale end?")
    await expect(arrived).to_be_visible(timeout=15_000)
    await browser.screenshot(page, "ops-page")

    phone = await browser.new_page(width=390, height=844)
    await phone.goto(base + "/ui/")
    await expect(phone.locator("#sign-in")).to_be_visible()  # the token stays in its own tab
    await _sign_in(phone, base)
    await expect(phone.locator("#feed-state")).to_have_text("live", timeout=15_000)
    await expect(phone.locator("#funnel svg")).to_contain_text("Sent")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await browser.screenshot(phone, "ops-page-phone")

    await page.click("#sign-out")
    await expect(page.locator("#sign-in")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
