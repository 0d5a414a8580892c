"""What each caller may see of a task, its consensus and its A/B labels (no database)."""

from __future__ import annotations

import uuid

import pytest

from whstudio.domain import keyed, visibility
from whstudio.domain.responses import shown_order
from whstudio.domain.users import Principal

USER = uuid.UUID("00000000-0000-0000-0000-000000000001")
SECRET = "visibility-test-secret"  # the orders below are computed under this key


@pytest.fixture(autouse=True)
def _our_key():
    """Each test here runs under SECRET, whatever key other tests left the process with."""
    kept = keyed._secret
    keyed.configure(SECRET)
    yield
    keyed._secret = kept


def _task_shown(order: str) -> uuid.UUID:
    """Return a task id that USER is shown in `order` (under SECRET)."""
    kept = keyed._secret
    keyed.configure(SECRET)
    try:
        return _first_shown(order)
    finally:
        keyed._secret = kept


def _first_shown(order: str) -> uuid.UUID:
    for n in range(1, 1000):
        task = uuid.UUID(int=n)
        if shown_order(task, USER) == order:
            return task
    raise AssertionError(order)


TASK = {"AB": _task_shown("AB"), "BA": _task_shown("BA")}
ROLES = ["annotator", "reviewer", "admin"]


def _state(task, question_type="pairwise_ab", final="A"):
    counts = {
        "A": {"count": 3, "weight": 3.0, "mean_confidence": 3.0},
        "B": {"count": 1, "weight": 1.0, "mean_confidence": 3.0},
        "tie": {"count": 0, "weight": 0.0, "mean_confidence": None},
    }
    return {
        "task_id": task,
        "question_type": question_type,
        "consensus_reached": True,
        "agreement_percentage": 75.0,
        "final_answer": {"chosen_response": final},
        "crowd_final_answer": {"chosen_response": final},
        "counts": counts,
        "version": 7,
    }


def _event(task, final="A"):
    return {
        "task_id": task,
        "version": 7,
        "total_responses": 4,
        "remaining": 0,
        "consensus_reached": True,
        "agreement_percentage": 75,
        "final_answer": {"chosen_response": final},
        "count_a": 3,
        "count_b": 1,
        "count_tie": 0,
    }


def _row(task, question_type="pairwise_ab"):
    return {
        "id": task,
        "title": "t",
        "description": "",
        "status": "active",
        "priority": 3,
        "expires_at": None,
        "question_type": question_type,
        "question_id": uuid.UUID(int=99),
        "question_version": 1,
        "source_dataset": None,
        "content": {"prompt": "p", "optionA": "left", "optionB": "right"},
        "allow_tie": False,
        "consensus_threshold": 3,
        "min_agreement_percentage": 70,
        "reward_amount": None,
        "reward_currency": None,
        "total_responses": 4,
        "remaining": 0,
        "gold_standard": {"chosen_response": "A"},
        "source_ref": "ref",
        "metadata": {},
    }


@pytest.mark.parametrize("order", ["AB", "BA"])
@pytest.mark.parametrize("answered", [False, True])
@pytest.mark.parametrize("role", ROLES)
def test_the_decision_for_each_role_answer_and_order(role, answered, order):
    sight = visibility.decide(
        role, USER, task_id=TASK[order], question_type="pairwise_ab", answered=answered
    )
    staff = role != "annotator"
    assert sight.staff is staff
    assert sight.may_see is (staff or answered)
    assert sight.sees({"remaining": 2}) is (staff or answered)  # the default: after answering
    assert sight.order == order  # everyone answers in their own shown order
    assert sight.labels == (None if staff else order)  # staff read consensus canonically


@pytest.mark.parametrize("role", ROLES)
def test_other_question_types_and_the_all_task_stream_have_no_order(role):
    assert visibility.decide(role, USER, task_id=TASK["BA"], question_type="ranking").order is None
    assert visibility.decide(role, USER).order is None
    assert visibility.decide(role, USER).may_see is (role != "annotator")


@pytest.mark.parametrize("reveal", visibility.REVEALS)
@pytest.mark.parametrize("remaining,status", [(2, "active"), (0, "active"), (2, "completed")])
@pytest.mark.parametrize("role", ROLES)
def test_the_reveal_policy_decides_when_an_annotator_who_answered_sees_others(
    role, reveal, remaining, status
):
    sight = visibility.decide(role, USER, answered=True, reveal=reveal)
    state = _state(TASK["AB"]) | {"remaining": remaining, "task_status": status}
    closed = remaining == 0 or status != "active"
    expected = (
        role != "annotator"
        or {
            "never": False,
            "after_answer": True,
            "after_close": closed,
        }[reveal]
    )
    assert sight.sees(state) is expected
    assert (visibility.consensus_view(sight, state) is not None) is expected
    event = {"task_id": TASK["AB"], "version": 3, "remaining": remaining, "count_a": 3}
    assert ("count_a" in visibility.event_view(sight, event)) is (
        role != "annotator"
        or reveal == "after_answer"
        or (reveal == "after_close" and remaining == 0)
    )
    unanswered = visibility.decide(role, USER, answered=False, reveal=reveal)
    assert unanswered.sees(state) is (role != "annotator")


@pytest.mark.parametrize("order", ["AB", "BA"])
def test_an_annotator_who_has_not_answered_sees_no_consensus(order):
    sight = visibility.decide("annotator", USER, task_id=TASK[order], question_type="pairwise_ab")
    assert visibility.consensus_view(sight, _state(TASK[order])) is None


def test_an_annotator_who_answered_sees_consensus_in_their_own_labels():
    ab = visibility.decide(
        "annotator", USER, task_id=TASK["AB"], question_type="pairwise_ab", answered=True
    )
    # in their labels, without vote weights (one's own moves with a gold verdict)
    expected = visibility.without_weights(_state(TASK["AB"]))
    assert visibility.consensus_view(ab, _state(TASK["AB"])) == expected
    assert "weight" not in expected["counts"]["A"]
    ba = visibility.decide(
        "annotator", USER, task_id=TASK["BA"], question_type="pairwise_ab", answered=True
    )
    shown = visibility.consensus_view(ba, _state(TASK["BA"]))
    assert shown["final_answer"] == shown["crowd_final_answer"] == {"chosen_response": "B"}
    assert shown["counts"]["B"]["count"] == 3 and shown["counts"]["A"]["count"] == 1
    tie = visibility.consensus_view(ba, _state(TASK["BA"], final="tie"))
    assert tie["final_answer"] == {"chosen_response": "tie"}


def test_other_question_types_keep_their_labels():
    sight = visibility.decide(
        "annotator", USER, task_id=TASK["BA"], question_type="ranking", answered=True
    )
    state = _state(TASK["BA"], question_type="ranking")
    assert visibility.consensus_view(sight, state) == visibility.without_weights(state)


@pytest.mark.parametrize("order", ["AB", "BA"])
@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_staff_see_every_consensus_canonically(role, order):
    sight = visibility.decide(role, USER, task_id=TASK[order], question_type="pairwise_ab")
    assert visibility.consensus_view(sight, _state(TASK[order])) == _state(TASK[order])


def test_the_answer_a_caller_just_gave_shows_consensus_in_their_labels():
    row = {
        "task_id": TASK["BA"],
        "question_type": "pairwise_ab",
        "consensus_reached": False,
        "agreement_percentage": 100,
        "final_answer": {"chosen_response": "A"},
        "adjudicated_answer": None,
        "total_responses": 1,
        "weighted_agreement_percentage": 100,
        "consensus_threshold": 3,
        "min_agreement_percentage": 70,
        "remaining": 2,
        "reached_at": None,
        "count_a": 1,
        "count_b": 0,
        "count_tie": 0,
        "weight_a": 1,
        "weight_b": 0,
        "weight_tie": 0,
        "confidence_sum_a": 3,
        "confidence_sum_b": 0,
        "confidence_sum_tie": 0,
        "confidence_sum": 3,
        "confidence_count": 1,
        "time_spent_sum": 5,
        "time_spent_count": 1,
        "ranking_counts": None,
        "details": {},
        "version": 3,
        "updated_at": None,
    }
    annotator = Principal(id=USER, username="u", role="annotator")
    mine = visibility.submitted_consensus(annotator, TASK["BA"], row)
    assert mine["final_answer"] == {"chosen_response": "B"} and mine["counts"]["B"]["count"] == 1
    admin = Principal(id=USER, username="u", role="admin")
    canonical = visibility.submitted_consensus(admin, TASK["BA"], row)
    assert canonical["final_answer"] == {"chosen_response": "A"}


def test_streams_show_progress_to_annotators_and_labels_as_they_saw_them():
    event = _event(TASK["BA"])
    progress = visibility.event_view(visibility.decide("annotator", USER), event)
    assert progress == {k: event[k] for k in visibility.PROGRESS_FIELDS}
    for role in ("reviewer", "admin"):
        assert visibility.event_view(visibility.decide(role, USER), event) == event
    answered = visibility.decide(
        "annotator", USER, task_id=TASK["BA"], question_type="pairwise_ab", answered=True
    )
    swapped = visibility.event_view(answered, event)
    assert (swapped["count_a"], swapped["count_b"]) == (1, 3)
    assert swapped["final_answer"] == {"chosen_response": "B"}
    assert visibility.event_view(answered, _event(TASK["BA"], "tie"))["final_answer"] == {
        "chosen_response": "tie"
    }
    same = visibility.decide(
        "annotator", USER, task_id=TASK["AB"], question_type="pairwise_ab", answered=True
    )
    assert visibility.event_view(same, _event(TASK["AB"])) == _event(TASK["AB"])


@pytest.mark.parametrize("order", ["AB", "BA"])
def test_an_annotator_sees_the_question_in_their_order_and_never_gold(order):
    task = TASK[order]
    sight = visibility.decide("annotator", USER, task_id=task, question_type="pairwise_ab")
    view = visibility.task_view(sight, _row(task), answer=None, consensus=None)
    assert "canonical" not in view and "gold" not in str(view)
    assert view["consensus"] is None and view["my_answer"] is None
    assert view["shown_order"] == order
    assert view["content"]["optionA"] == ("left" if order == "AB" else "right")


def test_an_annotator_who_answered_sees_their_answer_and_consensus_in_their_labels():
    task = TASK["BA"]
    sight = visibility.decide(
        "annotator", USER, task_id=task, question_type="pairwise_ab", answered=True
    )
    answer = {"id": 1, "chosen_response": "A", "shown_order": "BA"}
    view = visibility.task_view(sight, _row(task), answer=answer, consensus=_state(task))
    assert view["my_answer"] == {"id": 1, "chosen_response": "B"}
    assert view["consensus"]["final_answer"] == {"chosen_response": "B"}
    assert "canonical" not in view


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_staff_see_gold_canonical_content_and_consensus(role):
    task = TASK["BA"]
    sight = visibility.decide(role, USER, task_id=task, question_type="pairwise_ab")
    view = visibility.task_view(sight, _row(task), answer=None, consensus=_state(task))
    assert view["canonical"]["gold_standard"] == {"chosen_response": "A"}
    assert view["canonical"]["content"]["optionA"] == "left"
    assert view["content"]["optionA"] == "right"  # the question as they would answer it
    assert view["consensus"] == _state(task)


def test_task_lists_hide_agreement_answer_and_gold_from_annotators():
    def page():
        item = {"id": 1, "total_responses": 2, "agreement_percentage": 50, "final_answer": None}
        return {"items": [item | {"has_gold": True, "consensus_reached": False}]}

    annotator = visibility.decide("annotator", USER)
    shown = visibility.task_list_view(annotator, page())["items"][0]
    assert not set(visibility.LIST_HIDDEN) & set(shown)
    assert shown["consensus_reached"] is False and shown["total_responses"] == 2
    for role in ("reviewer", "admin"):
        assert visibility.task_list_view(visibility.decide(role, USER), page()) == page()
    filters = {"status": "active", "has_gold": True}
    assert visibility.list_filters(annotator, filters) == {"status": "active"}
    assert visibility.list_filters(visibility.decide("admin", USER), filters) == filters
    assert visibility.list_sort(annotator, "agreement") == "created"
    assert visibility.list_sort(annotator, "priority") == "priority"
    assert visibility.list_sort(visibility.decide("reviewer", USER), "agreement") == "agreement"


def test_an_annotators_answers_are_shown_in_the_labels_they_saw():
    rows = [
        {"task_id": TASK["AB"], "question_type": "pairwise_ab", "chosen_response": "A"},
        {"task_id": TASK["BA"], "question_type": "pairwise_ab", "chosen_response": "A"},
        {"task_id": TASK["BA"], "question_type": "pairwise_ab", "chosen_response": None},
        {"task_id": TASK["BA"], "question_type": "ranking", "chosen_response": None},
    ]
    shown = visibility.answers_as_shown(rows, USER)
    assert [r["chosen_response"] for r in shown] == ["A", "B", None, None]
    assert rows[1]["chosen_response"] == "A"  # the rows given are not changed
