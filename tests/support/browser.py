"""Debian's Chromium driven by Playwright (never a browser download), with every request
outside the hosts a test allows blocked and recorded, and screenshots kept as artifacts.

Without /usr/bin/chromium the browser tests skip, except in CI (CI=true), where that is a
failure: `.ci/run` installs it. The directory the screenshots go to is printed at the end of the
run (a pytest plugin: this module is listed in conftest's pytest_plugins).
"""

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Route, async_playwright

from tests.support.tools import require

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_SCREENSHOTS: list[Path] = []


def screenshot_folder(screenshots: Path, backend: str) -> Path:
    """A folder per backend under the run's screenshots; SCREENSHOT_DIR (the documentation's
    pictures) takes them as they are."""
    folder = screenshots if os.environ.get("SCREENSHOT_DIR") else screenshots / backend
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Browser:
    context: BrowserContext
    allowed: set[str]
    screenshots: Path
    requested: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    async def new_page(self, *, width: int = 1280, height: int = 900) -> Page:
        """A page whose console errors and uncaught exceptions are kept in `console`."""
        page = await self.context.new_page()
        page.on(
            "console",
            lambda message: self.console.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.console.append(str(error)))
        await page.set_viewport_size({"width": width, "height": height})
        return page

    async def screenshot(self, page: Page, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        _SCREENSHOTS.append(path)
        return path


@asynccontextmanager
async def chromium(allowed_origins: list[str], screenshots: Path) -> AsyncIterator[Browser]:
    """A fresh Chromium profile that may reach `allowed_origins` (scheme://host:port) only."""
    require(str(CHROMIUM), "chromium")
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    allowed = {urlsplit(origin).netloc for origin in allowed_origins}
    try:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                headless=True,
                args=FLAGS,
                service_workers="block",
            )
            browser = Browser(context, allowed, screenshots)

            async def guard(route: Route) -> None:
                url = route.request.url
                browser.requested.append(url)
                parts = urlsplit(url)
                if parts.scheme in ("data", "blob") or parts.netloc in allowed:
                    await route.continue_()
                else:
                    browser.blocked.append(url)
                    await route.abort("blockedbyclient")

            await context.route("**/*", guard)
            try:
                yield browser
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _SCREENSHOTS:
        return
    terminalreporter.section("browser screenshots")
    for folder in sorted({path.parent for path in _SCREENSHOTS}):
        terminalreporter.write_line(f"{folder}:")
        for path in sorted(p for p in _SCREENSHOTS if p.parent == folder):
            terminalreporter.write_line(f"  {path.name}")
