"""Who may open which page, as a browser sees it."""

from __future__ import annotations

import re

from playwright.async_api import expect


async def test_an_annotator_gets_the_403_page_on_admin_pages_and_no_admin_links(site):
    site.expect_http_errors(403)
    page = await site.signed_in("ann")
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Tasks")).to_be_visible()
    await expect(nav.get_by_role("link", name="Import")).to_have_count(0)
    await site.user("bob")
    for path in ("/admin/import", "/admin/tasks", "/admin/users", "/dashboard/bob"):
        response = await page.goto(path)
        assert response.status == 403, path
        await expect(page.get_by_role("heading", level=1)).to_have_text("403 · Not allowed")
        await expect(page.get_by_role("alert")).to_contain_text(re.compile("admin"))


async def test_a_missing_page_and_a_missing_task_get_the_404_page(site):
    site.expect_http_errors(404)
    page = await site.signed_in("ann")
    for path in ("/no-such-page", "/annotate/00000000-0000-0000-0000-000000000000"):
        response = await page.goto(path)
        assert response.status == 404, path
        await expect(page.get_by_role("heading", level=1)).to_have_text("404 · Not found")


async def test_signing_in_with_a_wrong_password_says_so_and_signing_out_ends_the_session(site):
    site.expect_http_errors(401)
    await site.user("ann")
    page = await site.new_page()
    await page.goto("/tasks")
    await expect(page).to_have_url(re.compile(r".*/login\?next=/tasks$"))
    await page.get_by_label("User name").fill("ann")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto("/tasks")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
