"""Issue 16, item 6: a reviewer's open /api/events kept receiving full consensus data after the
account was deactivated (and after signing out). An open stream now checks its caller every
WHSTUDIO_STREAM_RECHECK_SECONDS and closes once the caller is gone. The test failed on the
code before the fix (the stream stayed open)."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.web.conftest import env, live, settings  # noqa: F401  (fixtures)
from tests.web.test_auth import _csrf_from, _sign_in


async def _closed(stream: httpx.Response, within: float) -> float:
    """Seconds until the server ends the stream; fails if it is still open after `within`."""
    began = time.monotonic()

    async def drain() -> None:
        async for _ in stream.aiter_lines():
            pass

    await asyncio.wait_for(drain(), within)
    return time.monotonic() - began


async def test_a_stream_closes_when_its_caller_is_deactivated(live):  # noqa: F811
    live.env.app.state.settings.stream_recheck_seconds = 0.5
    admin = await live.env.token_for("root", "admin")
    reviewer = await live.env.token_for("rita", "reviewer")
    async with httpx.AsyncClient(
        base_url=live.base_url, headers={"Authorization": f"Bearer {reviewer}"}, timeout=10
    ) as client:
        async with client.stream("GET", "/api/events") as stream:
            assert stream.status_code == 200
            async with httpx.AsyncClient(
                base_url=live.base_url, headers={"Authorization": f"Bearer {admin}"}
            ) as staff:
                gone = await staff.post("/api/users/rita/deactivate")
                assert gone.status_code == 204
            took = await _closed(stream, within=5)
    assert took < 5


async def test_a_stream_stays_open_while_its_caller_is(live):  # noqa: F811
    live.env.app.state.settings.stream_recheck_seconds = 0.2
    reviewer = await live.env.token_for("rita", "reviewer")
    async with httpx.AsyncClient(
        base_url=live.base_url, headers={"Authorization": f"Bearer {reviewer}"}, timeout=10
    ) as client:
        async with client.stream("GET", "/api/events") as stream:
            try:
                await _closed(stream, within=1.5)
            except TimeoutError:
                return  # still open after several checks: as it should be
    raise AssertionError("the stream closed while its caller was still signed in")


async def test_a_stream_closes_when_its_caller_signs_out(live):  # noqa: F811
    """Issue 16, item 6, its second half: a stream opened with a web session kept running after
    that session signed out."""
    live.env.app.state.settings.stream_recheck_seconds = 0.5
    await live.env.make_user("sam", "reviewer")
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as browser:
        assert (await _sign_in(browser, "sam")).status_code == 303
        async with browser.stream("GET", "/api/events") as stream:
            assert stream.status_code == 200
            page = await browser.get("/", headers={"accept": "text/html"})
            out = await browser.post("/logout", data={"csrf_token": _csrf_from(page.text)})
            assert out.status_code == 303
            took = await _closed(stream, within=5)
    assert took < 5
