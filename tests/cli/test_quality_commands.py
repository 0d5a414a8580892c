"""`whstudio quality`: refresh, leaderboard, show, agreement and gold rates, as a subprocess."""

from __future__ import annotations

import asyncio
import json

import psycopg
from psycopg.rows import dict_row

from whstudio.simulation import crowd


async def _crowd(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        people = [crowd.Annotator(f"cli-good-{i}", "honest", 0.9) for i in range(4)]
        people.append(crowd.Annotator("cli-adversary", "adversarial", 0.0))
        sim = await crowd.setup(
            conn, tasks=80, gold_share=0.2, threshold=3, gold_rate=0.2, seed=3, crowd=people
        )
        await crowd.run(url, sim, seed=3, workers=2)


def test_quality_commands(whstudio, db_url):
    asyncio.run(_crowd(db_url))
    env = {"DATABASE_URL": db_url}
    refreshed = whstudio("quality", "refresh", "--reweight", env=env)
    assert refreshed.code == 0, refreshed.err
    assert "Dawid–Skene skill for 5 annotators" in refreshed.out
    assert "counters out of step before: 0" in refreshed.out
    board = whstudio("quality", "leaderboard", "--limit", "4", env=env)
    assert board.code == 0 and board.out.count("cli-good-") == 4
    assert "cli-adversary" not in board.out  # last of five, so not in the top four
    shown = whstudio("quality", "show", "cli-adversary", env=env)
    assert shown.code == 0, shown.err
    assert "below_chance" in shown.out and "Dawid–Skene estimate" in shown.out
    missing = whstudio("quality", "show", "nobody", env=env)
    assert missing.code == 1 and "no such user" in missing.err
    figures = whstudio("quality", "agreement", "--dataset", "simulation", env=env)
    assert figures.code == 0 and "Krippendorff's alpha" in figures.out
    assert "annotators 5" in figures.out
    assert "vote pairs agreeing (everyone):" in figures.out and "with ties" in figures.out
    # groups set from the command line slice the vote pairs; the JSON matches the API's shape
    grouped = whstudio("users", "groups", "cli-adversary", "adversary", env=env)
    assert grouped.code == 0 and "cli-adversary: person, groups adversary" in grouped.out
    bad_group = whstudio("users", "groups", "cli-adversary", "Not Ok", env=env)
    assert bad_group.code == 1 and "groups.0" in bad_group.err
    versus = whstudio(
        "quality", "agreement", "--group", "adversary", "--versus", "person", "--json", env=env
    )
    assert versus.code == 0, versus.err
    pairs = json.loads(versus.out)["vote_pairs"]
    assert pairs["group"] == "adversary" and pairs["overall"]["with_ties"]["pairs"] > 0
    # an adversary agrees with the honest crowd far less than the crowd among itself
    honest = json.loads(
        whstudio("quality", "agreement", "--group", "person", "--json", env=env).out
    )["vote_pairs"]
    assert pairs["overall"]["with_ties"]["agreement"] < honest["overall"]["with_ties"]["agreement"]
    refused = whstudio("quality", "agreement", "--versus", "person", env=env)
    assert refused.code == 2 and "versus" in refused.err
    rate = whstudio("quality", "gold-rate", "simulation", "0.3", env=env)
    assert rate.code == 0 and "gold rate 0.3" in rate.out
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT gold_rate FROM dataset_settings WHERE source_dataset = 'simulation'"
        ).fetchone()
    assert row == (0.3,)
    bad = whstudio("quality", "gold-rate", "simulation", "2", env=env)
    assert bad.code == 2 and "rate:" in bad.err
    cleared = whstudio("quality", "gold-rate", "simulation", "clear", env=env)
    assert cleared.code == 0 and "gold rate default" in cleared.out
