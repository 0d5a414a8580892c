"""Agreement as the share of agreeing vote pairs (the MT-Bench paper's figure), checked against
a count of every pair of votes done by hand, for slices and between groups."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from tests.importing.mtbench import MODELS, QUESTIONS, row
from whstudio.domain import agreement
from whstudio.domain import importing as items
from whstudio.errors import InvalidInput

JUDGES = ("expert_0", "expert_1", "expert_2", "author_0", "author_1", "gpt4_pair")
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)", "tie (inconsistent)")


def random_rows(seed: int, n: int = 160) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.sample(MODELS, 2)
        judge = rng.choice(JUDGES)
        winner = rng.choice(WINNERS[:3] if judge != "gpt4_pair" else WINNERS[:2] + WINNERS[4:])
        rows.append(row(rng.choice(list(QUESTIONS)), a, b, winner, judge, turn=rng.choice((1, 2))))
    return rows


def by_hand(rows, side_x, side_y=None, key=lambda item: None):
    """Every pair of latest votes on one item, counted one by one."""
    latest = {}
    for r in rows:  # a later row of the same judge on the same item replaces the earlier one
        item = (r["question_id"], *sorted((r["model_a"], r["model_b"])), r["turn"])
        label = {"model_a": "A", "model_b": "B"}.get(r["winner"], "tie")
        if r["model_b"] < r["model_a"] and label != "tie":
            label = {"A": "B", "B": "A"}[label]
        latest[(item, r["judge"])] = label
    out = {}
    for (item, judge), label in latest.items():
        out.setdefault(key(item), {}).setdefault(item, []).append((judge, label))
    figures = {}
    for value, per_item in out.items():
        s1 = s1a = s2 = s2a = 0
        for votes in per_item.values():
            if side_y is None:
                pairs = itertools.combinations([v for v in votes if side_x(v[0])], 2)
            else:  # two annotators, one of each side, each pair once
                pairs = [
                    (u, v)
                    for u, v in itertools.combinations(votes, 2)
                    if (side_x(u[0]) and side_y(v[0])) or (side_y(u[0]) and side_x(v[0]))
                ]
            for (_, first), (_, second) in pairs:
                s1, s1a = s1 + 1, s1a + (first == second)
                if "tie" not in (first, second):
                    s2, s2a = s2 + 1, s2a + (first == second)
        figures[value] = (s1a, s1, s2a, s2)
    return figures


def got(part) -> tuple[int, int, int, int]:
    w, wo = part["with_ties"], part["without_ties"]
    return (w["agreeing"], w["pairs"], wo["agreeing"], wo["pairs"])


@pytest.fixture
async def imported(conn):
    rows = random_rows(7)
    checked = items.check(list(enumerate(rows, start=1)))
    assert checked.failed == []
    await items.store(conn, checked, source="votes.jsonl", dataset="mtb")
    return rows


def person(judge: str) -> bool:
    return judge != "gpt4_pair"


async def test_within_everyone_and_per_turn(conn, imported):
    figures = await agreement.vote_pairs(conn, dataset="mtb", by="turn")
    hand = by_hand(imported, lambda j: True, key=lambda item: str(item[3]))
    assert {s["value"]: got(s) for s in figures["slices"]} == hand
    total = tuple(map(sum, zip(*hand.values(), strict=True)))
    assert got(figures["overall"]) == total and total[1] > 50  # enough pairs to mean something
    share = figures["overall"]["with_ties"]
    assert share["agreement"] == round(share["agreeing"] / share["pairs"], 4)


async def test_people_among_themselves_and_a_model_judge_against_people(conn, imported):
    humans = await agreement.vote_pairs(conn, group="person")
    assert got(humans["overall"]) == by_hand(imported, person)[None]
    experts = await agreement.vote_pairs(conn, group="expert", by="model_pair")
    hand = by_hand(
        imported,
        lambda j: j.startswith("expert"),
        key=lambda item: " vs ".join(sorted(item[1:3])),
    )
    assert {s["value"]: got(s) for s in experts["slices"] if s["with_ties"]["pairs"]} == {
        k: v for k, v in hand.items() if v[1]
    }
    model = await agreement.vote_pairs(conn, group="model", versus="person")
    assert got(model["overall"]) == by_hand(imported, lambda j: not person(j), person)[None]
    assert model["overall"]["with_ties"]["pairs"] > 0
    # sides that overlap (experts are people): nobody is paired with himself
    overlap = await agreement.vote_pairs(conn, group="person", versus="expert")
    hand = by_hand(imported, person, lambda j: j.startswith("expert"))[None]
    assert got(overlap["overall"]) == hand


async def test_alpha_and_kappa_of_a_slice_are_those_of_its_votes(conn, imported):
    # the classic figures read the answers that count in consensus: people's here
    whole = await agreement.vote_pairs(conn, dataset="mtb", group="person")
    classic = await agreement.compute(conn, dataset="mtb")
    assert whole["overall"]["krippendorff_alpha"] == classic["krippendorff_alpha"]
    assert whole["overall"]["fleiss_kappa"] == classic["fleiss_kappa"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"by": "turn; DROP TABLE users"}, "by"),
        ({"group": "Experts!"}, "group"),
        ({"versus": "model"}, "versus"),
    ],
)
async def test_options_that_are_not_slices_or_groups_are_refused(conn, options, field):
    with pytest.raises(InvalidInput) as caught:
        await agreement.vote_pairs(conn, **options)
    assert caught.value.field == field


def test_the_fixture_votes_are_shaped_like_the_published_files():
    rows = random_rows(7)
    assert {r["winner"] for r in rows if r["judge"] == "gpt4_pair"} >= {"tie (inconsistent)"}
    assert json.dumps(rows[0])  # JSON as published
