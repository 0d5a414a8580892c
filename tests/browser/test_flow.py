"""The whole flow in three browsers: an admin imports a file, two annotators answer the same
tasks, and a third browser on the task list sees the consensus bars move without reloading."""

from __future__ import annotations

import json
import re

from playwright.async_api import Page, expect

ITEMS = [
    {"prompt": f"Flow question {n}", "optionA": f"good answer {n}", "optionB": f"poor answer {n}"}
    for n in range(2)
]


async def answer_the_good_one(page: Page) -> str:
    """Answer the task on the page by choosing the option saying 'good' by its key; return
    the label it had for this annotator."""
    await expect(page.locator("#answer-form")).to_be_visible()
    shown_a = await page.locator('[data-option="A"]').inner_text()
    label = "A" if "good answer" in shown_a else "B"
    await page.keyboard.press("1" if label == "A" else "2")
    await page.keyboard.press("Enter")
    await expect(page.locator("#result")).to_be_visible()
    return label


async def card_count(page: Page, title: str) -> tuple[str, str | None]:
    card = page.locator("article.task", has_text=title)
    return await card.locator("[data-count]").inner_text(), await card.locator(
        "progress"
    ).get_attribute("value")


async def test_import_answer_by_two_and_watch_the_bars_move_live(site):
    admin = await site.signed_in("boss", "admin")
    await admin.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    await admin.get_by_label("File").set_input_files(
        files=[
            {
                "name": "flow.jsonl",
                "mimeType": "application/jsonl",
                "buffer": "\n".join(json.dumps(i) for i in ITEMS).encode(),
            }
        ]
    )
    await admin.get_by_label("Answers needed per task").fill("2")
    await admin.get_by_role("button", name="Check the file").click()
    await expect(admin.locator("#report-good")).to_contain_text("2")
    await expect(admin.locator("#report-failed")).to_have_text("0")
    await admin.get_by_role("button", name="Import now").click()
    await expect(admin.locator("#done-created")).to_have_text("2")

    watcher = await site.signed_in("carol")
    await watcher.goto("/tasks?source_dataset=flow")
    await expect(watcher.locator("article.task")).to_have_count(2)
    await expect(watcher.locator("#live-status")).to_have_text(re.compile("^Live"))
    await watcher.evaluate("() => { window.__sameDocument = true; }")
    for item in ITEMS:
        assert await card_count(watcher, item["prompt"]) == ("0", "0")
    await expect(watcher.locator("[data-reached]:visible")).to_have_count(0)

    alice = await site.signed_in("alice")
    bob = await site.signed_in("bob")
    await alice.goto("/annotate")
    await answer_the_good_one(alice)
    await expect(alice.locator("#result-count")).to_have_text("1 of 2 answers")
    # The watcher's bar moved for the task alice answered: one card at 1, one at 0.
    await expect(watcher.locator("article.task progress[value='1']")).to_have_count(1)
    await alice.keyboard.press("Enter")
    await answer_the_good_one(alice)
    await expect(watcher.locator("article.task progress[value='1']")).to_have_count(2)
    await expect(watcher.locator("[data-reached]:visible")).to_have_count(0)

    await bob.goto("/annotate")
    for _ in ITEMS:
        label = await answer_the_good_one(bob)
        await expect(bob.locator("#result-count")).to_have_text("2 of 2 answers")
        await expect(bob.locator("#result-consensus")).to_have_text(
            f"Consensus: answer {label} is better."
        )
        await bob.keyboard.press("Enter")
    await expect(bob.get_by_role("heading", name="No task is waiting for you")).to_be_visible()

    for item in ITEMS:
        card = watcher.locator("article.task", has_text=item["prompt"])
        await expect(card.locator("progress")).to_have_attribute("value", "2")
        await expect(card.locator("[data-count]")).to_have_text("2")
        await expect(card.get_by_text("Consensus reached")).to_be_visible()
    assert await watcher.evaluate("() => window.__sameDocument") is True  # never reloaded

    rows = await site.query(
        "SELECT q.content ->> 'optionA' AS a, c.consensus_reached, c.final_answer "
        "FROM response_consensus c JOIN tasks t ON t.id = c.task_id "
        "JOIN questions q ON q.id = t.question_id"
    )
    assert all(r["consensus_reached"] for r in rows) and len(rows) == 2
    assert {r["final_answer"]["chosen_response"] for r in rows} == {"A"}  # the good answers
