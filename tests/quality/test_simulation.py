"""The evidence: 26 simulated annotators of known accuracy answer 2,000 tasks of known truth
through `next` and `submit`, and the platform tells them apart."""

from __future__ import annotations

import os

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import _create_db, _drop_db
from whstudio.simulation import crowd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim_db(server_url: str, template_db: str):
    name = f"whs_sim_{os.getpid()}"
    yield _create_db(server_url, name, template_db)
    _drop_db(server_url, name)


@pytest.fixture(scope="module")
async def report(sim_db: str):
    url = sim_db
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        sim = await crowd.setup(
            conn, tasks=2000, gold_share=0.1, threshold=5, gold_rate=0.1, seed=11
        )
        await crowd.run(url, sim, seed=11, workers=4)
        return await crowd.evaluate(conn, sim)


def test_reputation_orders_annotators_by_true_accuracy(report):
    assert report["tasks"] == 2000 and report["annotators"] == 26
    assert report["answers"] >= 1800 * 5
    assert report["spearman"] >= 0.9, report["people"]
    assert report["counters_out_of_step"] == 0


def test_random_adversarial_and_position_biased_annotators_are_flagged(report):
    people = {p["name"]: p for p in report["people"]}
    bad = [p for p in report["people"] if p["kind"] != "honest"]
    assert len(bad) == 6
    assert all(p["flags"] for p in bad), [(p["name"], p["flags"]) for p in bad]
    assert all("below_chance" in people[f"sim-adversarial-{i}"]["flags"] for i in range(2))
    assert "position_bias" in people["sim-left"]["flags"]
    # and the good annotators are not taken for bad ones. (A run of failed gold checks is a
    # prompt for review that an honest annotator can also trigger by chance, so it is not counted.)
    verdicts = {"below_chance", "near_chance", "position_bias", "same_answer", "fast"}
    good = [p for p in report["people"] if p["kind"] == "honest" and p["true_accuracy"] >= 0.7]
    assert good and not [p["name"] for p in good if verdicts & set(p["flags"])]


def test_weighted_beats_majority_and_dawid_skene_beats_weighted(report):
    accuracy = report["accuracy"]
    assert accuracy["weighted"] >= accuracy["majority"]
    assert accuracy["dawid_skene"] >= accuracy["weighted"]
    assert accuracy["dawid_skene"] > 0.85


def test_agreement_figures_rest_on_the_items_they_count(report):
    figures = report["agreement"]
    assert figures["items"] >= 1800 and figures["annotators"] == 26
    assert -1 <= figures["krippendorff_alpha"] <= 1 and -1 <= figures["fleiss_kappa"] <= 1
    assert report["pairwise_pairs"] == 26 * 25 // 2
