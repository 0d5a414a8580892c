"""Admin analytics in a browser: Plotly draws the charts, and the live list shows a task
reaching consensus as it happens."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import PHONE, pairwise
from tests.browser.test_screenshots import shoot


async def test_charts_draw_and_a_task_reaching_consensus_appears_live(site):
    [task] = await site.tasks(
        [
            pairwise(
                "Live one", "good", "bad", consensus_threshold=1,
                metadata={"model_a": "model-alpha", "model_b": "model-beta"},
            )
        ]
    )  # fmt: skip
    admin = await site.signed_in("boss", "admin")
    await admin.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    state = admin.locator("#live-state")
    await expect(state).to_have_text("Live: waiting for tasks to reach consensus.", timeout=20_000)
    await expect(admin.locator("#live-list li")).to_have_count(0)
    ann = await site.signed_in("ann")
    await ann.goto(f"/annotate/{task}")
    await expect(ann.locator("#answer-form")).to_be_visible()
    await ann.keyboard.press("1")
    await ann.keyboard.press("Enter")
    await expect(ann.locator("#result-consensus")).to_have_text("Consensus: answer A is better.")
    item = admin.locator("#live-list li")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("1 answers, 100.0% agreement")
    await expect(item.get_by_role("link")).to_have_attribute("href", f"/admin/tasks/{task}")
    await admin.reload()
    for chart in ("#chart-trend", "#chart-throughput", "#chart-agreement", "#chart-datasets"):
        await expect(admin.locator(f"{chart} .main-svg").first).to_be_visible(timeout=20_000)
    await expect(admin.locator("#metric-agreement")).to_have_text("100.0%")
    # the model rankings chart: both models of the answered pair, with their intervals
    await expect(admin.locator("#chart-models .main-svg").first).to_be_visible(timeout=20_000)
    await expect(admin.locator("#chart-models")).to_contain_text("model-alpha")
    await expect(admin.locator("#chart-models")).to_contain_text("model-beta")
    # agreement metrics on request, for every dataset (one task with one answer: no items yet)
    await admin.get_by_role("button", name="Compute").click()
    await expect(admin.locator("#agreement-state")).to_have_text("Every dataset.")
    await expect(admin.locator("#agreement-items")).to_have_text("0")
    await expect(admin.locator("#agreement-answers")).to_have_text("0")
    await expect(admin.locator("#agreement-alpha")).to_have_text("—")
    # vote-pair agreement beside them: overall, no pair yet
    rows = admin.locator("#vote-pairs-body tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("all")
    await admin.locator("#agreement-versus").select_option("person")
    await admin.get_by_role("button", name="Compute").click()
    await expect(admin.locator("#agreement-state")).to_have_text(
        "Choose whose votes to compare first."
    )
    await admin.locator("#agreement-group").select_option("person")
    await admin.locator("#agreement-by").select_option("model_pair")
    await admin.get_by_role("button", name="Compute").click()
    await expect(admin.locator("#vote-pairs-caption")).to_have_text(
        "Vote pairs agreeing: person against person"
    )
    await expect(rows.nth(1)).to_contain_text("model-alpha vs model-beta")
    await shoot(admin, "admin-analytics", "desktop")
    phone = await site.new_page(PHONE)
    await phone.context.add_cookies(await admin.context.cookies())
    await phone.goto("/admin/analytics")
    # A new context loads the 4.8 MB Plotly script afresh: allow for a busy machine.
    await expect(phone.locator("#chart-trend .main-svg").first).to_be_visible(timeout=20_000)
    await shoot(phone, "admin-analytics", "phone")
    # On a phone no mode bar sits over a chart, and a wide table shows it scrolls.
    assert await phone.locator(".modebar").count() == 0
    cue = await phone.evaluate(
        "() => getComputedStyle(document.querySelector('.table-wrap')).backgroundAttachment"
    )
    assert "local" in cue
