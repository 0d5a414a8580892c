"""Legacy answers in every shape the old clients wrote: a clear choice is a vote, whatever its
other fields look like, through the backfill and through the dual-write trigger alike."""

from __future__ import annotations

import json

import psycopg
import pytest

from whstudio.legacy import steps
from whstudio.legacy.verify import expected_answer, verify

from .oldapp import OldApp

SYSTEM = "00000001-0000-4000-0000-000000000000"
LONG = "x" * 5200

# (submission_data, chosen, confidence, seconds, noted): what the answer becomes, and whether the
# migration reports it as read differently or dropped. None for chosen: quarantined.
SHAPES = [
    ({"chosen_response": "A", "confidence": 4, "time_spent_seconds": 35}, "A", 4, 35, False),
    ({"chosen_response": "a", "confidence_score": 3}, "A", 3, None, False),
    ({"chosen_response": " B ", "confidence": 5}, "B", 5, None, False),
    ({"chosen_response": "b"}, "B", None, None, False),
    ({"chosen_response": "A", "confidence": None, "time_spent_seconds": None}, "A", None, None,
     False),
    ({"chosen_response": "A", "confidence": 0.8}, "A", 4, None, True),
    ({"chosen_response": "A", "confidence": 0.95}, "A", 5, None, True),
    ({"chosen_response": "B", "confidence": 0.5}, "B", 3, None, True),
    ({"chosen_response": "B", "confidence": 0}, "B", 1, None, True),
    ({"chosen_response": "B", "confidence": 1}, "B", 1, None, False),
    ({"chosen_response": "B", "confidence": 1.0}, "B", 1, None, False),
    ({"chosen_response": "A", "confidence": 3.5}, "A", 4, None, True),
    ({"chosen_response": "A", "confidence": "4"}, "A", 4, None, True),
    ({"chosen_response": "A", "confidence": "0.8"}, "A", 4, None, True),
    ({"chosen_response": "A", "confidence": "high"}, "A", 4, None, True),
    ({"chosen_response": "A", "confidence": "Medium"}, "A", 3, None, True),
    ({"chosen_response": "A", "confidence": "very_high"}, "A", 5, None, True),
    ({"chosen_response": "A", "confidence": " HIGH "}, "A", 4, None, True),
    ({"chosen_response": "A", "confidence": "very-low"}, "A", 1, None, True),
    ({"chosen_response": "A", "confidence": "certain"}, "A", None, None, True),
    ({"chosen_response": "A", "confidence": 7}, "A", None, None, True),
    ({"chosen_response": "A", "confidence": -1}, "A", None, None, True),
    ({"chosen_response": "A", "confidence": "-1"}, "A", None, None, True),
    ({"chosen_response": "A", "confidence": True}, "A", None, None, True),
    ({"chosen_response": "A", "confidence": [4]}, "A", None, None, True),
    ({"chosen_response": "A", "time_spent_seconds": "35"}, "A", None, 35, True),
    ({"chosen_response": "A", "time_spent_seconds": 12.5}, "A", None, 13, True),
    ({"chosen_response": "A", "time_spent_seconds": -3}, "A", None, None, True),
    ({"chosen_response": "A", "time_spent_seconds": 100_000}, "A", None, None, True),
    ({"chosen_response": "A", "time_spent_seconds": "soon"}, "A", None, None, True),
    ({"chosen_response": "A", "additional_comments": LONG}, "A", None, None, True),
    ({"chosen_response": "A", "additional_comments": 5}, "A", None, None, True),
    ({"chosen_response": "C", "confidence": 3}, None, None, None, False),
    ({"chosen_response": 1}, None, None, None, False),
    ({"confidence": 3}, None, None, None, False),
    ({"chosen_response": "tie"}, None, None, None, False),  # the task allows no tie
]  # fmt: skip

# The criteria the old clients sent with a vote (`rating_reasons`, docs/legacy-schema.md), as
# (submission_data, the answer's reasons, noted): kept as criterion names, exported with it.
REASONS = [
    ({"response_a": "x", "response_b": "y", "chosen_response": "a",
      "rating_reasons": ["accuracy"], "confidence_score": 3,
      "additional_comments": "A is correct and shorter."}, ["accuracy"], False),
    ({"chosen_response": "B", "rating_reasons": ["helpfulness", "accuracy"]},
     ["helpfulness", "accuracy"], False),
    ({"chosen_response": "B", "rating_reasons": ["Helpfulness", "factual  accuracy"]},
     ["helpfulness", "factual_accuracy"], True),
    ({"chosen_response": "A", "rating_reasons": "accuracy"}, ["accuracy"], False),
    ({"chosen_response": "A", "rating_reasons": "accuracy, helpfulness"},
     ["accuracy", "helpfulness"], True),
    ({"chosen_response": "A", "rating_reasons": ["accuracy", "accuracy", ""]}, ["accuracy"], True),
    ({"chosen_response": "A", "rating_reasons": [1, None, "safety"]}, ["safety"], True),
    ({"chosen_response": "A", "rating_reasons": []}, None, False),
    ({"chosen_response": "A", "rating_reasons": None}, None, False),
    ({"chosen_response": "A", "rating_reasons": {"accuracy": True}}, None, True),
    ({"chosen_response": "A", "rating_reasons": ["<b>bold</b>"]}, None, True),
    ({"chosen_response": "A", "reasons": ["style"]}, ["style"], False),
    ({"chosen_response": "A", "rating_reasons": [f"r{i}" for i in range(25)]},
     [f"r{i}" for i in range(20)], True),
    ({"chosen_response": "maybe", "rating_reasons": ["accuracy"]}, None, False),
]  # fmt: skip
REASONS_OF = {json.dumps(d, sort_keys=True): r for d, r, _ in REASONS}
SHAPES += [
    (
        d,
        c.strip().upper() if c in ("a", "b", "A", "B") else None,
        d.get("confidence_score"),
        None,
        n,
    )
    for d, r, n in REASONS
    for c in [d["chosen_response"]]
]


@pytest.mark.parametrize(("data", "chosen", "confidence", "seconds", "noted"), SHAPES)
def test_the_python_reading_of_each_shape(data, chosen, confidence, seconds, noted):
    """verify's own reading of a document (written apart from the SQL it checks)."""
    if chosen is None:
        if data.get("chosen_response") == "tie":
            assert expected_answer("pairwise_ab", data)["chosen_response"] == "tie"
        else:
            with pytest.raises((KeyError, ValueError)):
                expected_answer("pairwise_ab", data)
        return
    got = expected_answer("pairwise_ab", data)
    assert (got["chosen_response"], got["confidence"], got["time_spent_seconds"]) == (
        chosen,
        confidence,
        seconds,
    )
    assert got["reasons"] == REASONS_OF.get(json.dumps(data, sort_keys=True))


@pytest.fixture
def migrating(make_legacy, reference_url):
    """A small legacy database after expand, and the old application beside it."""
    url = make_legacy(tasks=20, submissions=0, users=2 * len(SHAPES) + 10)
    app = OldApp(url)
    yield url, app
    app.close()


def _users(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, nullifier_hash FROM users ORDER BY id OFFSET 1 LIMIT %s",
            (2 * len(SHAPES),),
        ).fetchall()


def _task(app: OldApp, k: int):
    doc = {"type": "pairwise_ab", "prompt": f"Which is clearer, {k}?", "optionA": "x",
           "optionB": "y", "gold": None}  # fmt: skip
    return app.insert_task(SYSTEM, json.dumps(doc))


def test_every_shape_through_the_backfill_and_the_dual_write(migrating, reference_url):
    url, app = migrating
    users = _users(url)
    task_before, task_after = _task(app, 1), _task(app, 2)
    # Written before expand: the backfill reads them. Written after: the dual-write trigger.
    before = [app.insert_submission(task_before, *users[i], data) for i, (data, *_) in
              enumerate(SHAPES)]  # fmt: skip
    steps.expand(url, reference_url=reference_url)
    after = [app.insert_submission(task_after, *users[len(SHAPES) + i], data) for i, (data, *_)
             in enumerate(SHAPES)]  # fmt: skip
    steps.backfill(url, batch=7)
    with psycopg.connect(url) as conn:
        for ids in (before, after):
            for sid, (data, chosen, confidence, seconds, noted) in zip(ids, SHAPES, strict=True):
                row = conn.execute(
                    "SELECT s.chosen_response, s.confidence, s.time_spent_seconds,"
                    "       s.explanation, s.submission_data,"
                    "       (SELECT notes FROM whs_legacy.normalised n WHERE n.row_id = s.id),"
                    "       (SELECT reason FROM whs_legacy.quarantine z WHERE z.row_id = s.id),"
                    "       s.reasons"
                    "  FROM submissions s WHERE s.id = %s",
                    (sid,),
                ).fetchone()
                got_chosen, got_conf, got_secs, explanation, raw, notes, reason, reasons = row
                assert raw == data, "the legacy document is kept as it was"
                assert (got_chosen, got_conf, got_secs) == (chosen, confidence, seconds), data
                assert reasons == REASONS_OF.get(json.dumps(data, sort_keys=True)), data
                assert (reason is not None) == (chosen is None), (data, reason)
                assert bool(notes) == noted, (data, notes)
                if data.get("additional_comments") == LONG:
                    assert explanation == LONG[:5000]
        votes = sum(1 for _, chosen, *_ in SHAPES if chosen)
        for task in (task_before, task_after):
            assert conn.execute(
                "SELECT count_a + count_b + count_tie FROM response_consensus WHERE task_id = %s",
                (task,),
            ).fetchone() == (votes,)
    report = verify(url)
    assert report.ok, report.as_dict()
    noted = sum(1 for *_, n in SHAPES if n)
    assert report.normalised == {"submissions": 2 * noted}
    assert report.quarantined["submissions"] == 2 * sum(1 for _, c, *_ in SHAPES if c is None)
    status = steps.status(url)
    assert status["normalised"] == {"submissions": 2 * noted}


def test_an_old_path_rewrite_updates_the_report(migrating, reference_url):
    url, app = migrating
    users = _users(url)
    task = _task(app, 3)
    steps.expand(url, reference_url=reference_url)
    steps.backfill(url)
    sid = app.insert_submission(task, *users[0], {"chosen_response": "A", "confidence": "high"})
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT notes FROM whs_legacy.normalised WHERE row_id = %s", (sid,)
        ).fetchone() == (['confidence "high" read as 4'],)
    app.update_submission(sid, {"chosen_response": "B", "confidence": 2})
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM whs_legacy.normalised WHERE row_id = %s", (sid,)
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT chosen_response, confidence FROM submissions WHERE id = %s", (sid,)
        ).fetchone() == ("B", 2)
    app.update_submission(sid, {"chosen_response": "maybe"})
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT reason FROM whs_legacy.quarantine WHERE row_id = %s", (sid,)
        ).fetchone() == ("chosen_response maybe is not A, B or tie",)
