"""The analytics figures cache: what it serves, when it computes, and how it fails. The figures
come from a stand-in computation whose cost and result the test controls (the SQL behind the
real one is tested in tests/web/test_pages.py)."""

from __future__ import annotations

import asyncio

import pytest

from whstudio.domain.analytics import FiguresCache


class Source:
    """Figures numbered by computation; `cost` seconds each; `fail` makes the next ones raise."""

    def __init__(self, cost: float = 0.0) -> None:
        self.cost = cost
        self.calls = 0
        self.running = 0
        self.most_running = 0
        self.fail = False

    async def __call__(self, days: int) -> dict:
        self.calls += 1
        number = self.calls
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.cost)
            if self.fail:
                raise RuntimeError("the database went away")
            return {"days": days, "number": number}
        finally:
            self.running -= 1


async def test_costly_figures_are_computed_once_for_requests_that_come_together():
    source = Source(cost=0.05)
    cache = FiguresCache(60, source, cheap_seconds=0.01)
    got = await asyncio.gather(*(cache.get(30) for _ in range(5)))
    assert source.calls == 1 and {g["number"] for g in got} == {1}
    assert all(g["cached"] is False and g["days"] == 30 and g["computed_at"] for g in got)
    again = await cache.get(30)
    assert source.calls == 1 and again["number"] == 1 and again["cached"] is True
    assert again["max_age_seconds"] == 60 and again["age_seconds"] >= 0
    other = await cache.get(7)  # each window is its own
    assert source.calls == 2 and other["days"] == 7 and other["number"] == 2


async def test_stale_figures_are_served_while_one_refresh_runs_behind_them():
    source = Source(cost=0.05)
    cache = FiguresCache(0.1, source, cheap_seconds=0.01)
    await cache.get(30)
    await asyncio.sleep(0.15)  # older than max_age now
    stale = await asyncio.gather(*(cache.get(30) for _ in range(4)))
    assert [s["number"] for s in stale] == [1, 1, 1, 1]  # nobody waited
    assert all(s["cached"] and s["age_seconds"] >= 0.1 for s in stale)
    await asyncio.sleep(0.1)  # the one refresh has finished
    assert source.calls == 2 and source.most_running == 1
    assert (await cache.get(30))["number"] == 2


async def test_cheap_figures_and_fresh_requests_are_computed_every_time():
    cheap = Source(cost=0.0)
    cache = FiguresCache(60, cheap, cheap_seconds=0.2)
    assert [(await cache.get(30))["number"] for _ in range(3)] == [1, 2, 3]
    assert (await cache.get(30))["cached"] is False
    costly = Source(cost=0.05)
    cache = FiguresCache(60, costly, cheap_seconds=0.01)
    await cache.get(30)
    assert (await cache.get(30))["number"] == 1
    fresh = await cache.get(30, fresh=True)
    assert fresh["number"] == 2 and fresh["cached"] is False
    assert (await cache.get(30))["number"] == 2  # and it is what is kept after


async def test_max_age_zero_keeps_nothing():
    source = Source(cost=0.05)
    cache = FiguresCache(0, source, cheap_seconds=0.01)
    assert [(await cache.get(30))["number"] for _ in range(3)] == [1, 2, 3]


async def test_a_failed_refresh_keeps_the_old_figures_and_is_tried_again():
    source = Source(cost=0.02)
    cache = FiguresCache(0.05, source, cheap_seconds=0.01)
    await cache.get(30)
    await asyncio.sleep(0.06)
    source.fail = True
    assert (await cache.get(30))["number"] == 1  # served; the refresh behind it fails
    await asyncio.sleep(0.05)
    assert source.calls == 2
    source.fail = False
    assert (await cache.get(30))["number"] == 1  # still stale: this request starts a new try
    await asyncio.sleep(0.05)
    assert source.calls == 3 and (await cache.get(30))["number"] == 3


async def test_a_failed_first_computation_reaches_every_waiting_request_and_is_tried_again():
    source = Source(cost=0.02)
    source.fail = True
    cache = FiguresCache(60, source, cheap_seconds=0.01)
    got = await asyncio.gather(*(cache.get(30) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(g, RuntimeError) for g in got) and source.calls == 1
    source.fail = False
    assert (await cache.get(30))["number"] == 2


async def test_closing_cancels_a_refresh_in_flight():
    source = Source(cost=5.0)
    cache = FiguresCache(60, source, cheap_seconds=0.01)
    waiting = asyncio.ensure_future(cache.get(30))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cache.close(), 1.0)
    assert source.running == 0
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
