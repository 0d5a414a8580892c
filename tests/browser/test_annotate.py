"""The answering page: keyboard use, safe rendering, and every question type."""

from __future__ import annotations

import asyncio
import io
import re
import wave

from playwright.async_api import expect

from tests.browser.conftest import pairwise


async def test_an_annotator_answers_five_tasks_by_keyboard_alone(site):
    await site.tasks([pairwise(f"Question {n}?", f"A{n}", f"B{n}") for n in range(5)])
    await site.user("kim")
    page = await site.new_page()
    await page.goto("/login")
    await expect(page.get_by_label("User name")).to_be_focused()
    await page.keyboard.type("kim")
    await page.keyboard.press("Tab")
    await page.keyboard.type("correct horse battery")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()
    await page.goto("/annotate")
    for n in range(5):
        form = page.locator("#answer-form")
        await expect(form).to_be_visible()
        await page.keyboard.press("2")
        await expect(page.locator("#choice-B")).to_be_checked()
        await page.keyboard.press("Shift+Digit4")
        await expect(page.locator("#confidence-value")).to_have_text("4")
        if n == 0:
            await page.keyboard.press("Tab")  # from the choice to the confidence slider
            await page.keyboard.press("Tab")  # to the explanation
            await expect(page.locator("#explanation")).to_be_focused()
            await page.keyboard.type("B is clearer")
        await page.keyboard.press("Enter")
        await expect(page.locator("#result")).to_be_visible()
        await expect(page.locator("#next")).to_be_focused()
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="No task is waiting for you")).to_be_visible()
    rows = await site.query(
        "SELECT s.chosen_response, s.shown_order, s.confidence, s.explanation, "
        "s.time_spent_seconds FROM submissions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = 'kim'"
    )
    assert len(rows) == 5
    for row in rows:
        # The annotator chose the B they were shown; it is stored in canonical order.
        assert row["chosen_response"] == ("B" if row["shown_order"] == "AB" else "A")
        assert row["confidence"] == 4 and 0 <= row["time_spent_seconds"] < 120
    assert [r["explanation"] for r in rows if r["explanation"]] == ["B is clearer"]


PAYLOAD = '<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2">'


async def test_html_in_prompts_and_answers_is_shown_as_text_and_nothing_runs(site):
    [task] = await site.tasks(
        [
            pairwise(
                f"Explain this: {PAYLOAD}",
                f"**bold** {PAYLOAD} [link](javascript:window.__pwned=3)",
                f"```html\n{PAYLOAD}\n```",
                title=f"Title {PAYLOAD}",
            )
        ]
    )
    page = await site.signed_in("eve")
    await page.goto("/tasks")
    card = page.locator(f'article[data-task-id="{task}"]')
    await expect(card.locator(".preview")).to_contain_text("<script>window.__pwned = 1</script>")
    await page.goto(f"/annotate/{task}")
    prompt = page.locator("#prompt-body")
    await expect(prompt).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    await expect(page.locator("#task-title")).to_contain_text("<script>")
    for container in ("#prompt-body", ".options", "#task-title"):
        assert await page.locator(f"{container} script, {container} img").count() == 0
    # Markdown still renders: bold, a code block holding the HTML as text, and no link for a
    # javascript: address.
    options = page.locator(".options")
    await expect(options.locator("strong")).to_have_text("bold")
    await expect(options.locator("pre code")).to_contain_text("<img src=x")
    assert await options.locator("a").count() == 0
    assert await page.evaluate("typeof window.__pwned") == "undefined"


async def test_markdown_renders_blocks_and_inline_marks_as_elements(site):
    page = await site.signed_in("mia")
    await page.goto("/annotate")
    source = (
        "# Title\n\nSome *em* and `code` and [docs](https://example.org).\n\n"
        "- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted\n\n"
        "```python\nprint('<b>')\n```\n\n    indented()\n"
    )
    shape = await page.evaluate(
        """(src) => {
            const box = document.createElement('div');
            box.appendChild(window.WHMarkdown.render(src));
            const md = box.firstChild;
            return {
              tags: Array.from(md.children).map(n => n.tagName),
              em: md.querySelector('p em').textContent,
              code: md.querySelector('p code').textContent,
              href: md.querySelector('p a').href,
              nested: md.querySelectorAll('ul ul li').length,
              pre: md.querySelector('pre code[data-lang=python]').textContent,
              indented: md.querySelectorAll('pre')[1].textContent,
              bold: md.querySelectorAll('b').length,
            };
        }""",
        source,
    )
    assert shape == {
        "tags": ["H3", "P", "UL", "OL", "BLOCKQUOTE", "PRE", "PRE"],
        "em": "em",
        "code": "code",
        "href": "https://example.org/",
        "nested": 1,
        "pre": "print('<b>')",
        "indented": "indented()",
        "bold": 0,
    }


async def test_a_ranking_is_reordered_by_keyboard_and_by_dragging(site):
    [task] = await site.tasks(
        [
            {
                "question_type": "ranking",
                "content": {"prompt": "Order these", "options": ["first", "second", "third"]},
                "source_dataset": "browser",
            }
        ]
    )
    page = await site.signed_in("rui")
    await page.goto(f"/annotate/{task}")
    items = page.locator("#ranking > li")
    await expect(items).to_have_count(3)
    await items.nth(0).focus()
    await page.keyboard.press("Alt+ArrowDown")  # first goes below second
    await expect(items.nth(1)).to_contain_text("first")
    await expect(page.locator("#rank-live")).to_have_text("Moved to position 2 of 3.")
    await items.nth(2).drag_to(items.nth(0), target_position={"x": 20, "y": 2})  # third on top
    await expect(items.nth(0)).to_contain_text("third")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result")).to_be_visible()
    [row] = await site.query("SELECT payload FROM submissions")
    assert row["payload"]["ranking"] == [2, 1, 0]


def _silent_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 4000)
    return out.getvalue()


async def test_writing_and_transcription_forms_submit_their_text(site):
    writing, listening = await site.tasks(
        [
            {
                "question_type": "text_generation",
                "content": {"prompt": "Write a haiku"},
                "source_dataset": "browser",
            },
            {
                "question_type": "voice_transcription",
                "content": {"prompt": "Transcribe", "audio_url": "https://media.test/clip.wav"},
                "source_dataset": "browser",
            },
        ]
    )
    page = await site.signed_in("tia")
    await page.route(
        "https://media.test/clip.wav",
        lambda route: route.fulfill(status=200, content_type="audio/wav", body=_silent_wav()),
    )
    await page.goto(f"/annotate/{writing}")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.get_by_role("alert")).to_have_text("Write your answer first.")
    await page.get_by_label("Your answer").fill("old pond\nfrog jumps in")
    await page.get_by_label("Your answer").press("Control+Enter")
    await expect(page.locator("#result")).to_be_visible()
    await page.goto(f"/annotate/{listening}")
    audio = page.locator("audio#recording")
    await expect(audio).to_have_attribute("src", "https://media.test/clip.wav")
    for _ in range(50):  # the player read the recording's header (polled: CSP forbids eval)
        if await audio.evaluate("(a) => a.readyState") >= 1:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the audio player never loaded the recording")
    await page.get_by_label("Transcript").fill("silence")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#result-count")).to_have_text("1 of 3 answers")
    await expect(page.locator("#result-consensus")).to_have_text(
        "No consensus yet: answers are still coming in."
    )
    rows = await site.query("SELECT payload FROM submissions ORDER BY created_at")
    assert [r["payload"] for r in rows] == [
        {"text": "old pond\nfrog jumps in"},
        {"transcript": "silence"},
    ]


async def test_a_conversation_shows_as_turns_in_the_annotators_own_order(site):
    def said(role: str, text: str) -> dict:
        return {"role": role, "content": text}

    conversation = {
        "prompt": [said("user", "Write a haiku about autumn.")],
        "a": [
            said("assistant", "Left first reply"),
            said("user", "Now rhyme."),
            said("assistant", "Left **rhymes**"),
        ],
        "b": [
            said("assistant", "Right first reply"),
            said("user", "Now rhyme."),
            said("assistant", "Right rhymes"),
        ],
    }
    [task] = await site.tasks(
        [
            pairwise(
                "Turn 1:\nWrite a haiku about autumn.\n\nTurn 2:\nNow rhyme.",
                "Turn 1:\nLeft first reply\n\nTurn 2:\nLeft **rhymes**",
                "Turn 1:\nRight first reply\n\nTurn 2:\nRight rhymes",
                content_extra={"conversation": conversation},
            )
        ]
    )
    page = await site.signed_in("tina")
    await page.goto(f"/annotate/{task}")
    prompt = page.locator("#prompt-body .message")
    await expect(prompt).to_have_count(1)
    await expect(prompt.locator(".speaker")).to_have_text("User")
    await expect(prompt).to_contain_text("Write a haiku about autumn.")
    shown = await page.evaluate(
        "fetch(location.pathname.replace('/annotate/', '/api/tasks/')).then(r => r.json())"
    )
    left, right = ("Left", "Right") if shown["shown_order"] == "AB" else ("Right", "Left")
    for label, side in (("A", left), ("B", right)):
        turns = page.locator(f'[data-option="{label}"] .message')
        await expect(turns).to_have_count(3)
        await expect(turns.nth(0).locator(".speaker")).to_have_text("Assistant")
        await expect(turns.nth(0)).to_contain_text(f"{side} first reply")
        await expect(turns.nth(1).locator(".speaker")).to_have_text("User")
        await expect(turns.nth(2)).to_contain_text(f"{side} rhymes")
    await expect(page.locator(".message strong")).to_have_text("rhymes")  # markdown still renders
