"""Issue 15 in the browser, at desktop and phone width (screenshots in artifacts/screenshots/):
long answers that read well (highlighted code, headings no smaller than text, each answer
scrolling in its own panel with the choice bar in view, the chosen side outlined), guidelines
and criteria, identical answers flagged, an expired session that keeps the answer, a disputed
task said as such, and a change of answer after seeing the others' that is said not to count."""

from __future__ import annotations

import psycopg
import pytest
from playwright.async_api import expect
from psycopg.rows import dict_row

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, pairwise
from whstudio.domain import guidelines, policies, responses
from whstudio.schemas import TaskResponse

CODE = "\n".join(
    f"    total = total + values[{i}]  # step {i} of a long loop body" for i in range(60)
)
LONG = (
    "### How it works\n\nThe function adds every value.\n\n```python\ndef add(values):\n"
    "    total = 0\n" + CODE + "\n    return total\n```\n\n" + "More prose. " * 200
)


async def _db(site, work):
    async with await psycopg.AsyncConnection.connect(site.env.url, row_factory=dict_row) as c:
        async with c.transaction():
            return await work(c)


async def _answer(site, task_id: str, name: str, canonical: str) -> None:
    user = await site.user(name)

    async def work(c):
        order = responses.shown_order(task_id, user["id"])
        await responses.submit(
            c,
            task_id=task_id,
            user_id=user["id"],
            answer=TaskResponse(
                chosen_response=responses.to_shown(canonical, order),
                confidence=3,
                time_spent_seconds=20,
            ),
        )

    await _db(site, work)


async def _open(page, task: str) -> None:
    await page.goto(f"/annotate/{task}")
    await expect(page.locator("#answer-form")).to_be_visible()


async def _shot(page, name: str, width: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=False)


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_a_long_answer_with_code_reads_well(site, width):
    viewport = DESKTOP if width == "desktop" else PHONE
    [task] = await site.tasks([pairwise("Sum a list", LONG, "Use sum(values).")])
    page = await site.signed_in(f"long-{width}", viewport=viewport)
    await _open(page, task)
    code = page.locator(".option pre.highlighted code").first
    await expect(code.locator("span.tok-k").first).to_have_text("def")
    heading = page.locator(".option .md h5").first
    await expect(heading).to_have_text("How it works")
    sizes = await page.evaluate(
        "() => { const h = document.querySelector('.option .md h5');"
        " const p = document.querySelector('.option .md p');"
        " return [parseFloat(getComputedStyle(h).fontSize),"
        " parseFloat(getComputedStyle(p).fontSize)]; }"
    )
    assert sizes[0] >= sizes[1], sizes
    wraps = await code.evaluate("(c) => getComputedStyle(c.parentElement).whiteSpace")
    assert wraps == "pre-wrap"
    choices = page.locator(".choices")
    if width == "desktop":
        # The long answer scrolls in its own panel; the choices are in view without scrolling.
        scrolls = await page.evaluate(
            "() => [...document.querySelectorAll('.option-body')].map("
            "(b) => b.scrollHeight > b.clientHeight)"
        )
        assert True in scrolls
        box = await choices.bounding_box()
        assert box is not None and box["y"] + box["height"] <= viewport["height"], box
    else:
        # A touch screen: no keyboard hints, the choices on one row, targets of 44 px or more.
        await expect(page.locator(".choices kbd").first).to_be_hidden()
        await expect(page.locator(".key-hint")).to_be_hidden()
        boxes = [await c.bounding_box() for c in await page.locator(".choice label").all()]
        assert len({round(b["y"]) for b in boxes}) == 1, boxes
        assert min(b["height"] for b in boxes) >= 44, boxes
    await page.keyboard.press("1")
    chosen = page.locator(".option.chosen")
    await expect(chosen).to_have_count(1)
    await expect(chosen).to_have_attribute("data-label", "A")
    await _shot(page, "annotate-long-answer", width)


async def test_guidelines_open_on_first_visit_and_criteria_are_recorded(site):
    first, second = await site.tasks(
        [pairwise("Q1", "alpha", "beta"), pairwise("Q2", "gamma", "delta")]
    )

    async def publish(c):
        await guidelines.publish(
            c,
            "browser",
            body="## What matters\n\nPrefer the **correct** answer, then the clearer one.",
            criteria=["accuracy", "clarity"],
            created_by=None,
        )

    await _db(site, publish)
    page = await site.signed_in("reader", viewport=DESKTOP)
    await _open(page, first)
    panel = page.locator("details#guidelines")
    await expect(panel).to_have_attribute("open", "")
    await expect(panel.locator("h4")).to_have_text("What matters")
    await _shot(page, "annotate-guidelines", "desktop")
    await page.get_by_label("accuracy").check()
    await page.keyboard.press("2")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result")).to_be_visible()
    [row] = await site.query("SELECT reasons, guidelines_version FROM submissions")
    assert row == {"reasons": ["accuracy"], "guidelines_version": 1}
    await _open(page, second)
    await expect(page.locator("#prompt-body")).to_contain_text("Q2")
    await expect(page.locator("details#guidelines")).not_to_have_attribute("open", "")


async def test_identical_answers_are_flagged(site):
    [task] = await site.tasks([pairwise("Same?", "The same text.", "The same text.")])
    page = await site.signed_in("twin", viewport=PHONE)
    await _open(page, task)
    await expect(page.locator("#identical")).to_contain_text("the same text")


async def test_an_expired_session_keeps_the_answer_until_signed_in_again(site):
    [task] = await site.tasks([pairwise("Keep me", "left", "right")])
    page = await site.signed_in("sleepy", viewport=DESKTOP)
    await _open(page, task)
    await page.keyboard.press("2")
    await page.get_by_label("Why? (optional)").fill("clearer")
    await site.query("UPDATE web_sessions SET revoked_at = now() RETURNING id")
    site.expect_http_errors(401)
    await page.get_by_role("button", name="Submit answer").click()
    alert = page.locator("#error")
    await expect(alert).to_contain_text("Your session ended")
    await expect(page.locator("#choice-B")).to_be_checked()  # still on the page
    await page.locator("#sign-in-again").click()
    await page.get_by_label("User name").fill("sleepy")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**/annotate/{task}")
    await expect(page.locator("#draft-restored")).to_be_visible()
    await expect(page.locator("#choice-B")).to_be_checked()
    await expect(page.get_by_label("Why? (optional)")).to_have_value("clearer")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result")).to_be_visible()
    assert len(await site.query("SELECT id FROM submissions")) == 1


async def test_disputed_hidden_and_uncounted_answers_are_said_so(site):
    disputed, hidden = await site.tasks(
        [
            pairwise("Split", "one", "two"),
            pairwise("Secret", "three", "four", source_dataset="closed-ds"),
        ]
    )
    await _answer(site, disputed, "d1", "A")
    await _answer(site, disputed, "d2", "B")

    async def close_reveal(c):
        await policies.set_policy(c, "closed-ds", reveal="after_close")

    await _db(site, close_reveal)
    page = await site.signed_in("judge", viewport=DESKTOP)
    await _open(page, disputed)
    await page.keyboard.press("1")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result-consensus")).to_contain_text("Disputed")
    await _shot(page, "annotate-disputed", "desktop")
    # Back on the task after seeing the counts: a change is kept but does not count.
    await _open(page, disputed)
    await expect(page.locator("#revision-note")).to_contain_text("the one you gave counts")
    await page.keyboard.press("2")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result-uncounted")).to_contain_text("earlier answer")
    await _open(page, hidden)
    await page.keyboard.press("1")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result-hidden")).to_contain_text("once this task has all")
    await expect(page.locator("#result-counts")).to_have_count(0)


async def test_the_api_docs_work_without_internet(site):
    page = await site.new_page(DESKTOP)
    outside: list[str] = []

    async def local_only(route):
        if route.request.url.startswith(site.base_url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", local_only)
    await page.goto("/docs")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert await page.locator(".opblock").count() > 50
    assert outside == []
    await _shot(page, "api-docs", "desktop")


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_an_admin_writes_guidelines_in_the_web_app(site, width):
    from tests.browser.test_screenshots import shoot

    viewport = DESKTOP if width == "desktop" else PHONE
    await site.tasks([pairwise("Q", "a", "b", source_dataset="guided")])
    page = await site.signed_in(f"chief-{width}", "admin", viewport=viewport)
    await page.goto("/admin/datasets")
    await page.get_by_role("link", name="guided").click()
    await page.get_by_role("textbox", name="Guidelines").fill("## Be fair\n\nRead both answers.")
    await page.get_by_label("Criteria annotators may tick").fill("accuracy, tone")
    await page.get_by_role("button", name="Publish").click()
    await expect(page.locator("#saved")).to_contain_text("new version")
    await expect(page.locator("#guideline-versions li")).to_have_count(1)
    await page.get_by_label("once the task has all its answers").check()
    await page.get_by_role("button", name="Save").first.click()
    await expect(page.locator("#saved")).to_contain_text("annotators may see")
    await shoot(page, "admin-dataset", width)


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_my_dashboard_explains_itself_and_keeps_gold_checks_hidden(site, width):
    viewport = DESKTOP if width == "desktop" else PHONE
    gold, plain = await site.tasks(
        [
            pairwise("Gold one", "right", "wrong", gold_standard="A"),
            pairwise("Plain one", "this", "that"),
        ]
    )
    name = f"dash-{width}"
    page = await site.signed_in(name, viewport=viewport)
    for task in (gold, plain):
        await _open(page, task)
        await page.keyboard.press("2")
        await page.get_by_role("button", name="Submit answer").click()
        await expect(page.locator("#result")).to_be_visible()
    await page.goto("/dashboard")
    await expect(page.locator("#rep-score")).to_have_text("700")
    await expect(page.locator("#rep-explained")).to_contain_text("everyone starts at 700")
    await expect(page.locator("#answers-explained")).to_be_visible()
    assert await page.locator("#gold-title").count() == 0
    await expect(page.locator("#answers-table")).not_to_contain_text("wrong")
    await _shot(page, "dashboard-annotator", width)
    # A page the role does not open keeps the navigation.
    site.expect_http_errors(403)
    await page.goto("/admin/datasets")
    await expect(page.get_by_role("heading", name="403 · Not allowed")).to_be_visible()
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
