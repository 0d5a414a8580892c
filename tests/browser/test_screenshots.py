"""A screenshot of each main page at desktop and phone width (artifacts/screenshots/), and no
page may be wider than a phone's screen."""

from __future__ import annotations

import psycopg
import pytest
from playwright.async_api import Page, expect
from psycopg.rows import dict_row

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, pairwise
from whstudio.domain import responses
from whstudio.schemas import TaskResponse

LONG_ANSWER = (
    "Here is a function:\n\n```python\ndef fib(n: int) -> int:\n"
    "    return n if n < 2 else fib(n - 1) + fib(n - 2)  # a long line to scroll sideways\n```\n\n"
    "- it is **recursive**\n- it is `slow` for large n\n\n> Prefer an iterative version."
)
IMPORT_FILE = (
    '{"prompt": "Say hi", "optionA": "hi", "optionB": "hello", "gold": "A"}\n'
    "not json\n"
    '{"prompt": "Say bye", "optionA": "bye", "optionB": "ciao"}\n'
)


async def dispute(site, task_id: str) -> None:
    """Have two annotators disagree on a task that needs two answers."""
    for name, choice in (("dis1", "A"), ("dis2", "B")):
        user = await site.user(name)
        async with await psycopg.AsyncConnection.connect(site.env.url, row_factory=dict_row) as c:
            async with c.transaction():
                order = responses.shown_order(task_id, user["id"])
                await responses.submit(
                    c,
                    task_id=task_id,
                    user_id=user["id"],
                    answer=TaskResponse(
                        chosen_response=responses.to_shown(choice, order),
                        confidence=3,
                        time_spent_seconds=12,
                        explanation=f"{choice} reads better",
                    ),
                )


async def shoot(page: Page, name: str, width: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} is {overflow}px wider than the {width} screen"


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_screenshots_of_the_main_pages(site, width):
    site.expect_http_errors(403, 404)
    viewport = DESKTOP if width == "desktop" else PHONE
    pair, rank, write, listen, disputed = await site.tasks(
        [
            pairwise("Write a **Fibonacci** function in Python.", LONG_ANSWER, "Use a loop."),
            {
                "question_type": "ranking",
                "content": {"prompt": "Rank the titles", "options": ["Dune", "Emma", "Ulysses"]},
                "source_dataset": "books",
            },
            {
                "question_type": "text_generation",
                "content": {"prompt": "Summarise the plot of *Hamlet* in two sentences."},
                "source_dataset": "writing",
            },
            {
                "question_type": "voice_transcription",
                "content": {"prompt": "Transcribe the clip", "audio_url": "/static/none.wav"},
                "source_dataset": "voices",
            },
            pairwise("Which greeting?", "Hello there", "Hi", consensus_threshold=2),
        ]
    )
    await dispute(site, disputed)
    login = await site.new_page(viewport)
    await login.goto("/login")
    await shoot(login, "login", width)

    page = await site.signed_in("ann", viewport=viewport)
    await page.route("**/static/none.wav", lambda route: route.fulfill(status=200, body=b""))
    await shoot(page, "home", width)
    await page.goto("/tasks")
    await expect(page.locator("#live-status")).to_contain_text("Live")
    card = page.locator(f'article[data-task-id="{disputed}"]')
    await expect(card.locator("[data-disputed]")).to_be_visible()  # all answers in, no winner
    await expect(card.locator("[data-reached]")).to_be_hidden()
    await shoot(page, "tasks", width)
    await page.goto(f"/annotate/{pair}")
    await expect(page.locator("#answer-form")).to_be_visible()
    await shoot(page, "annotate-pairwise", width)
    await page.locator("label[for=choice-A]").click()
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result")).to_be_visible()
    await shoot(page, "annotate-answered", width)
    for name, task in (("ranking", rank), ("writing", write), ("transcription", listen)):
        await page.goto(f"/annotate/{task}")
        await expect(page.locator("#answer-form")).to_be_visible()
        await shoot(page, f"annotate-{name}", width)
    await page.goto("/tokens")
    await shoot(page, "tokens", width)
    await page.goto("/dashboard")
    await expect(page.locator("#answers-table")).to_be_visible()
    await shoot(page, "dashboard", width)
    await page.goto("/admin/users")
    await shoot(page, "forbidden", width)
    await page.goto("/no-such-page")
    await shoot(page, "not-found", width)

    admin = await site.signed_in("boss", "admin", viewport=viewport)
    await admin.goto("/admin/import")
    await shoot(admin, "admin-import", width)
    await admin.get_by_label("File").set_input_files(
        files=[{"name": "hi.jsonl", "mimeType": "text/plain", "buffer": IMPORT_FILE.encode()}]
    )
    await admin.get_by_role("button", name="Check the file").click()
    await expect(admin.locator("#report")).to_be_visible()
    await shoot(admin, "admin-import-report", width)
    await admin.get_by_role("button", name="Import now").click()
    await expect(admin.locator("#done")).to_be_visible()
    await shoot(admin, "admin-import-done", width)
    await admin.goto("/admin/tasks")
    await shoot(admin, "admin-tasks", width)
    await admin.goto(f"/admin/tasks/{pair}")
    await shoot(admin, "admin-task", width)
    await admin.goto("/admin/users")
    await shoot(admin, "admin-users", width)
    await admin.goto("/admin/export")
    await shoot(admin, "admin-export", width)
    if width == "desktop":
        async with admin.expect_download() as waiting:
            await admin.get_by_role("button", name="Download preference pairs").click()
        download = await waiting.value
        assert download.suggested_filename.startswith("whstudio-preferences-")
    await admin.goto("/review")
    await expect(admin.locator(f'tr[data-task-id="{disputed}"]')).to_be_visible()
    await shoot(admin, "review-queue", width)
    await admin.goto(f"/review/{disputed}")
    await shoot(admin, "review-task", width)
    assert len(list(SCREENSHOTS.glob(f"*-{width}.png"))) >= 21
