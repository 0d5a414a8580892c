"""Rankings from the database: outcomes per answer or per consensus, head-to-head table."""

from __future__ import annotations

import pytest

from tests.export.conftest import seed
from whstudio.domain import rankings
from whstudio.errors import InvalidInput


async def test_answers_basis_counts_every_latest_answer(conn):
    await seed(conn)
    doc = await rankings.model_rankings(conn, rounds=50)
    by_model = {m["model"]: m for m in doc["models"]}
    assert doc["comparisons"] == 14
    assert (by_model["gamma"]["wins"], by_model["gamma"]["losses"]) == (6, 2)
    assert by_model["alpha"]["ties"] == 3 and by_model["beta"]["ties"] == 3
    assert [m["rank"] for m in doc["models"]] == [1, 2, 3]
    assert doc["models"][0]["model"] == "gamma"
    pairs = {(p["model_a"], p["model_b"]): p for p in doc["pairs"]}
    # alpha-vs-beta: task p-agree-a (A,A,A for alpha) and p-tie (three ties)
    assert pairs[("alpha", "beta")] == {
        "model_a": "alpha",
        "model_b": "beta",
        "a_wins": 3,
        "b_wins": 0,
        "ties": 3,
    }
    # p-one names gamma as model_a: the table is keyed alphabetically and flips it.
    assert pairs[("alpha", "gamma")]["b_wins"] == 3 and pairs[("alpha", "gamma")]["a_wins"] == 1


async def test_consensus_basis_counts_one_outcome_per_settled_task(conn):
    await seed(conn)
    doc = await rankings.model_rankings(conn, basis="consensus", rounds=50)
    assert doc["comparisons"] == 3  # alpha>beta, gamma>beta, alpha=beta (settled on tie)
    by_model = {m["model"]: m for m in doc["models"]}
    assert by_model["beta"]["losses"] == 2 and by_model["beta"]["ties"] == 1


async def test_other_datasets_and_unnamed_models_are_left_out(conn):
    await seed(conn)
    doc = await rankings.model_rankings(conn, dataset="elsewhere", rounds=50)
    assert doc["models"] == [] and doc["comparisons"] == 0


async def test_bad_arguments_name_their_field(conn):
    with pytest.raises(InvalidInput) as caught:
        await rankings.model_rankings(conn, rounds=5)
    assert caught.value.field == "rounds"
