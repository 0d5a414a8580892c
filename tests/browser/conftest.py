"""Browser tests: the app served by a real uvicorn, driven through Playwright by Debian's
chromium. Every page a test opens is watched: a JavaScript error, a console error or a dialog
fails the test."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from psycopg.rows import dict_row

from tests.web.conftest import PASSWORD, env, live, settings  # noqa: F401  (fixtures)
from whstudio.domain import tasks as tasks_domain

CHROMIUM = os.environ.get("WHSTUDIO_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Generous waits: CI shares two cores between the app, PostgreSQL and the browser.
expect.set_options(timeout=15_000)
_HTTP_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `./dev test` installs Debian's chromium "
            "(or run `apt-get install chromium` as root)"
        )
    async with async_playwright() as playwright:
        # Running as root (CI) needs --no-sandbox; headless is Playwright's default.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@dataclass
class Site:
    """The served app and the browser pages opened on it, each watched for errors."""

    base_url: str
    env: Any
    browser: Browser
    problems: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)
    contexts: list[BrowserContext] = field(default_factory=list)

    def expect_http_errors(self, *statuses: int) -> None:
        """Say that pages will be answered with these statuses on purpose (403 and 404 pages);
        the browser logs those as console errors, which are then not problems."""
        self.allowed_statuses.update(statuses)

    def _console(self, page: Page, message) -> None:
        if message.type != "error":
            return
        match = _HTTP_ERROR.match(message.text)
        if match and int(match.group(1)) in self.allowed_statuses:
            return
        self.problems.append(f"console error on {page.url}: {message.text}")

    async def new_page(self, viewport: dict | None = None) -> Page:
        """Return a page in a browser context of its own (its own cookies: one person)."""
        phone = viewport == PHONE  # a phone is a touch screen
        context = await self.browser.new_context(
            base_url=self.base_url,
            viewport=viewport or DESKTOP,
            has_touch=phone,
            is_mobile=phone,
        )
        context.set_default_timeout(20_000)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.problems.append(f"error on {page.url}: {error}"))

        async def on_dialog(dialog) -> None:
            self.problems.append(f"dialog on {page.url}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        return page

    async def user(self, username: str, role: str = "annotator") -> dict:
        return await self.env.make_user(username, role)

    async def signed_in(
        self, username: str, role: str = "annotator", viewport: dict | None = None
    ) -> Page:
        """Return a page of a new user who signed in through the form."""
        await self.user(username, role)
        page = await self.new_page(viewport)
        await page.goto("/login")
        await page.get_by_label("User name").fill(username)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(re.compile(r".*/$"))
        return page

    async def tasks(self, items: list[dict]) -> list[str]:
        """Create questions and tasks straight in the database; return the task ids."""
        async with await psycopg.AsyncConnection.connect(self.env.url, row_factory=dict_row) as c:
            async with c.transaction():
                created = await tasks_domain.create_many(c, items, creator_id=None)
        return [str(item["task_id"]) for item in created]

    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        async with await psycopg.AsyncConnection.connect(self.env.url, row_factory=dict_row) as c:
            return await (await c.execute(sql, params or {})).fetchall()


@pytest.fixture
async def site(live, browser: Browser) -> AsyncIterator[Site]:  # noqa: F811
    served = Site(base_url=live.base_url, env=live.env, browser=browser)
    yield served
    for context in served.contexts:
        await context.close()
    assert served.problems == [], "the pages logged errors:\n" + "\n".join(served.problems)


def pairwise(prompt: str, a: str, b: str, content_extra: dict | None = None, **extra) -> dict:
    return {
        "question_type": "pairwise_ab",
        "content": {"prompt": prompt, "optionA": a, "optionB": b, **(content_extra or {})},
        "source_dataset": extra.pop("source_dataset", "browser"),
        **extra,
    }
