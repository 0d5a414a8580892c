"""Issue 16, item 16, its last part: Plotly drew a dataset name holding an HTML link as a
clickable link in the analytics charts. Text from the data is now escaped for Plotly: the name
shows as its characters and no link appears. The test failed on the code before the fix."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import browser, pairwise, site  # noqa: F401  (fixtures)
from tests.web.conftest import env, live, settings  # noqa: F401  (fixtures)

NAME = '<a href="https://evil.example/">click me</a>'


async def test_a_dataset_named_with_a_link_is_drawn_as_text(site):  # noqa: F811
    await site.tasks([pairwise("Linked", "good", "bad", source_dataset=NAME)])
    admin = await site.signed_in("boss", "admin")
    await admin.goto("/admin/analytics")
    chart = admin.locator("#chart-datasets")
    await expect(chart.locator(".main-svg").first).to_be_visible(timeout=20_000)
    await expect(chart).to_contain_text("click me")
    # Plotly draws a link as an SVG <a> (xlink:href) in the chart's text: none may appear
    assert await chart.locator("svg a").count() == 0
    await expect(chart).to_contain_text('<a href="https://evil.example/">')  # shown as text
