"""What a caller may see of a task, its consensus and its A/B labels: the one place that decides.

Annotators never see a gold answer, and see neither the consensus nor others' answers of a task
until they have answered it, and then only as its dataset's reveal policy says (`REVEALS`); a
pairwise choice is shown in the A/B labels the annotator saw. Reviewers and admins see
everything, in canonical labels. Every route, page and stream that shows
a task's consensus gets it from here (tests/unit/test_visibility_owner.py fails when one does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.domain import consensus, highlight
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.responses import answered_order, shown_content, shown_order, to_shown
from whstudio.domain.users import Principal
from whstudio.errors import Forbidden

# Roles that see everything (the same set as web.policies.STAFF; a unit test keeps them equal).
STAFF = frozenset({"reviewer", "admin"})
# Hidden from annotators in task lists: each would tell an answer before it is given.
LIST_HIDDEN = ("agreement_percentage", "final_answer", "has_gold")
# What an annotator may see of a task they have not answered on a stream: progress, not answers.
PROGRESS_FIELDS = ("task_id", "version", "total_responses", "remaining", "consensus_reached")
READ_REFUSAL = "answer this task before reading its consensus"
FOLLOW_REFUSAL = "answer this task before following its consensus"
# When an annotator who answered a task sees others' answers (dataset_policies.reveal). The
# default is after answering: the live feedback stays, and an answer changed after seeing it
# is kept but never counted (submit_answer_v1), so no counted vote can follow another.
REVEALS = ("never", "after_answer", "after_close")
DEFAULT_REVEAL = "after_answer"
REVEAL_REFUSALS = {
    "never": "this dataset does not show others' answers to annotators",
    "after_close": "this dataset shows others' answers once the task has all its answers",
}


def closed(state: dict[str, Any]) -> bool:
    """Whether a task takes no more answers towards its consensus: all are in, or it stopped
    (a consensus row, an event row or a task row)."""
    status = state.get("task_status") or state.get("status") or "active"
    return state.get("remaining") == 0 or status != "active"


@dataclass(frozen=True)
class Sight:
    """What one caller may see of one task (or of every task, on the all-task stream)."""

    staff: bool  # gold, canonical content and labels, every filter, any task's consensus
    answered: bool  # the caller has answered this task
    order: str | None  # the caller's own A/B order of a pairwise task; None for other types
    reveal: str = DEFAULT_REVEAL  # the task's dataset's reveal policy

    @property
    def may_see(self) -> bool:
        """Whether the consensus may be shown at all (for after_close: once the task closes)."""
        return self.staff or (self.answered and self.reveal != "never")

    def sees(self, state: dict[str, Any]) -> bool:
        """The consensus and others' answers, in this state of the task: staff; an annotator
        who answered, as the reveal policy says."""
        if not self.may_see:
            return False
        return self.staff or self.reveal == "after_answer" or closed(state)

    @property
    def refusal(self) -> str:
        """Why this caller may not see a task's consensus (when `sees` says no)."""
        return READ_REFUSAL if not self.answered else REVEAL_REFUSALS.get(self.reveal, "")

    @property
    def labels(self) -> str | None:
        """The order consensus choices are labelled in: canonical (None) for staff."""
        return None if self.staff else self.order


def decide(
    role: str,
    user_id: UUID,
    *,
    task_id: UUID | None = None,
    question_type: str | None = None,
    answered: bool = False,
    reveal: str | None = None,
    order: str | None = None,
) -> Sight:
    """Return what a caller with this role, who has (not) answered the task, may see of it.

    `order`: the A/B order the caller's answer was given under, when they answered (it stays
    theirs); else the keyed order they are shown now."""
    pairwise = task_id is not None and question_type == "pairwise_ab"
    return Sight(
        staff=role in STAFF,
        answered=answered,
        order=(order or shown_order(task_id, user_id)) if pairwise else None,
        reveal=reveal or DEFAULT_REVEAL,
    )


def relabel(state: dict[str, Any], order: str | None) -> dict[str, Any]:
    """Return a pairwise consensus in the A/B labels one annotator was shown."""
    if order is None or order == "AB" or state.get("question_type") != "pairwise_ab":
        return state
    shown = dict(state)
    for key in ("final_answer", "crowd_final_answer"):
        final = shown.get(key)
        if final and final.get("chosen_response"):
            shown[key] = {"chosen_response": to_shown(final["chosen_response"], order)}
    shown["counts"] = {to_shown(k, order): v for k, v in (shown.get("counts") or {}).items()}
    return shown


def consensus_view(sight: Sight, state: dict[str, Any]) -> dict[str, Any] | None:
    """Return the consensus (`consensus.shape`) as this caller may see it, or None."""
    if not sight.sees(state):
        return None
    shown = relabel(state, sight.labels)
    if not sight.staff:
        shown = without_weights(shown)
    return shown


def without_weights(state: dict[str, Any]) -> dict[str, Any]:
    """A consensus without vote weights, as annotators see it: the weight of one's own vote
    moves at once with a gold verdict, so reading it after each answer would tell which answer
    was a gold check."""
    shown = dict(state)
    shown.pop("weighted_agreement_percentage", None)
    shown["counts"] = {
        choice: {k: v for k, v in part.items() if k != "weight"}
        for choice, part in (state.get("counts") or {}).items()
    }
    return shown


def event_view(sight: Sight, event: dict[str, Any]) -> dict[str, Any]:
    """Return one consensus event (a `consensus.changed_since` row) as this caller may see it."""
    if not sight.sees(event):
        return {k: event.get(k) for k in PROGRESS_FIELDS}
    if sight.labels != "BA":
        return event
    swapped = dict(event)
    swapped["count_a"], swapped["count_b"] = event.get("count_b"), event.get("count_a")
    final = event.get("final_answer")
    if final and final.get("chosen_response") in ("A", "B"):
        swapped["final_answer"] = {"chosen_response": to_shown(final["chosen_response"], "BA")}
    return swapped


def task_view(
    sight: Sight,
    row: dict[str, Any],
    *,
    answer: dict[str, Any] | None,
    consensus: dict[str, Any] | None,
) -> dict[str, Any]:
    """Return what one caller may see of a task (`tasks.detail` row) with their answer.

    Everyone sees the question as they are to answer it: pairwise options in their own shown
    order, labelled A and B as shown. Annotators see no gold answer, and no consensus or other
    answers until they have answered; reviewers and admins see all, canonical order included.
    """
    order = sight.order
    content = shown_content(row["content"], order) if order else dict(row["content"])
    view: dict[str, Any] = {
        "id": row["id"],
        "title": row["title"],
        "description": row["description"],
        "status": row["status"],
        "priority": row["priority"],
        "expires_at": row["expires_at"],
        "question_type": row["question_type"],
        "question_id": row["question_id"],
        "question_version": row["question_version"],
        "source_dataset": row["source_dataset"],
        "content": content,
        # Server-side syntax highlighting of the content's fenced code (domain/highlight.py).
        "highlights": highlight.for_content(content),
        "shown_order": order,
        "allow_tie": row["allow_tie"],
        "count_model_votes": row.get("count_model_votes", False),
        "consensus_threshold": row["consensus_threshold"],
        "min_agreement_percentage": float(row["min_agreement_percentage"]),
        "reward_amount": row["reward_amount"],
        "reward_currency": row["reward_currency"],
        "total_responses": row["total_responses"],
        "remaining": row["remaining"],
        "reveal": sight.reveal,
        # The guidelines in force (their text: GET /api/datasets/{dataset}/guidelines).
        "guidelines": (
            {"version": row["guidelines_version"], "criteria": list(row["criteria"] or [])}
            if row.get("guidelines_version")
            else None
        ),
        "my_answer": None,
        "consensus": None,
    }
    if answer is not None:
        mine = dict(answer)
        if order and mine.get("chosen_response"):
            mine["chosen_response"] = to_shown(mine["chosen_response"], order)
        mine.pop("shown_order", None)
        view["my_answer"] = mine
        counted = answer.get("counted_answer")
        if counted is not None:
            # The answer that counts, when the newest one was given after seeing others'.
            shown = dict(counted)
            if order and shown.get("chosen_response"):
                shown["chosen_response"] = to_shown(shown["chosen_response"], order)
            mine["counted_answer"] = shown
    if consensus is not None:
        view["consensus"] = consensus_view(sight, consensus)
    if view["consensus"] is None and answer is not None and not sight.staff:
        view["consensus_hidden"] = sight.refusal
    if sight.staff:
        view["canonical"] = {
            "content": dict(row["content"]),
            "gold_standard": row["gold_standard"],
            "source_ref": row["source_ref"],
            "source_key": row.get("source_key"),
            "metadata": row["metadata"],
        }
    return view


async def task_list(
    conn: AsyncConnection,
    caller: Principal,
    *,
    filters: dict[str, Any],
    sort: str = "created",
    limit: int = 50,
    cursor: str | None = None,
    with_total: bool = True,
) -> dict[str, Any]:
    """Return one page of the task list (`tasks.list_tasks`) as the caller may filter and see
    it."""
    sight = decide(caller.role, caller.id)
    check_sort(sight, sort)
    page = await tasks_domain.list_tasks(
        conn,
        filters=list_filters(sight, filters),
        sort=sort,
        limit=limit,
        cursor=cursor,
        with_total=with_total,
    )
    return task_list_view(sight, page)


def task_list_view(sight: Sight, page: dict[str, Any]) -> dict[str, Any]:
    """Return a page of the task list (`tasks.list_tasks`) as this caller may see it."""
    if not sight.staff:
        for item in page["items"]:
            for key in LIST_HIDDEN:
                item.pop(key, None)
    return page


def list_filters(sight: Sight, filters: dict[str, Any]) -> dict[str, Any]:
    """Return the task-list filters this caller may use: only staff may filter by gold."""
    return filters if sight.staff else {k: v for k, v in filters.items() if k != "has_gold"}


def check_sort(sight: Sight, sort: str) -> None:
    """Refuse an annotator's sort by a value they do not see: the order alone would tell it."""
    if sort == "agreement" and not sight.staff:
        raise Forbidden("only reviewers and admins may sort tasks by agreement", field="sort")


def list_sort(sight: Sight, sort: str) -> str:
    """Return the task page's sort for this caller: annotators do not see agreement, so they
    cannot order by it there."""
    return "created" if sort == "agreement" and not sight.staff else sort


def answers_as_shown(rows: list[dict[str, Any]], author_id: UUID) -> list[dict[str, Any]]:
    """Return one annotator's answers with pairwise choices in the labels they saw (to anyone
    looking at them)."""
    out = []
    for row in rows:
        shown = dict(row)
        if row["question_type"] == "pairwise_ab" and row["chosen_response"]:
            order = row.get("shown_order") or shown_order(row["task_id"], author_id)
            shown["chosen_response"] = to_shown(row["chosen_response"], order)
        shown.pop("shown_order", None)
        out.append(shown)
    return out


def stream_sight(caller: Principal) -> Sight:
    """Return what a caller may see on the stream of every task's events."""
    return decide(caller.role, caller.id)


async def consensus_sight(
    conn: AsyncConnection, caller: Principal, task_id: UUID, *, refusal: str = READ_REFUSAL
) -> tuple[Sight, dict[str, Any]]:
    """Return what the caller may see of a task and its consensus as they may see it; raise
    NotFound for no such task and Forbidden when they may not see it."""
    state = await consensus.read(conn, task_id)
    staff = caller.role in STAFF
    order = None if staff else await answered_order(conn, task_id, caller.id)
    sight = decide(
        caller.role,
        caller.id,
        task_id=task_id,
        question_type=state["question_type"],
        answered=order is not None,
        reveal=state["reveal"],
        order=order or None,
    )
    view = consensus_view(sight, state)
    if view is None:
        if refusal == FOLLOW_REFUSAL and sight.may_see:
            # Following a task that shows its answers once closed: progress until then.
            return sight, {}
        raise Forbidden(refusal if not order else sight.refusal)
    return sight, view


async def consensus_for(conn: AsyncConnection, caller: Principal, task_id: UUID) -> dict[str, Any]:
    """Return a task's consensus as the caller may see it (see `consensus_sight`)."""
    return (await consensus_sight(conn, caller, task_id))[1]


def submitted_consensus(
    caller: Principal, task_id: UUID, row: dict[str, Any]
) -> dict[str, Any] | None:
    """Return the consensus a caller's own answer just produced (a stored row), as they see it:
    None when the dataset's reveal policy hides it from them."""
    state = consensus.shape(row)
    sight = decide(
        caller.role,
        caller.id,
        task_id=task_id,
        question_type=state["question_type"],
        answered=True,
        reveal=state["reveal"],
    )
    return consensus_view(sight, state)


async def task_for(conn: AsyncConnection, caller: Principal, task_id: UUID) -> dict[str, Any]:
    """Return one task as the caller may see it, with their answer and (if allowed) its
    consensus; raise NotFound for no such task."""
    row = await tasks_domain.detail(conn, task_id)
    answer = await tasks_domain.latest_answer(conn, task_id, caller.id)
    sight = decide(
        caller.role,
        caller.id,
        task_id=row["id"],
        question_type=row["question_type"],
        answered=answer is not None,
        reveal=row["reveal"],
        order=answer["shown_order"] if answer else None,
    )
    state = await consensus.read(conn, task_id) if sight.may_see else None
    return task_view(sight, row, answer=answer, consensus=state)


async def leased_task(
    conn: AsyncConnection, caller: Principal, row: dict[str, Any]
) -> dict[str, Any]:
    """Return a task just leased to the caller (`distribution.next_task`) as they may see it."""
    # `next` never hands out a task this annotator has answered: there is no answer of theirs
    # to show, and only staff see the consensus of an unanswered task.
    sight = decide(
        caller.role,
        caller.id,
        task_id=row["id"],
        question_type=row["question_type"],
        reveal=row.get("reveal"),
    )
    state = await consensus.read(conn, row["id"]) if sight.may_see else None
    return task_view(sight, row, answer=None, consensus=state)


async def events_since(
    conn: AsyncConnection,
    sight: Sight,
    version: int,
    *,
    task_id: UUID | None = None,
    send_current: bool = False,
) -> list[dict[str, Any]]:
    """Return the events after `version` (one task's, or every task's) as the caller may see
    them, oldest first; with `send_current`, a task's current state when nothing changed yet."""
    rows = await consensus.changed_since(conn, version, task_id=task_id)
    if not rows and send_current and task_id is not None and version == 0:
        rows = [consensus.event_row(await consensus.read(conn, task_id))]
    return [event_view(sight, row) for row in rows]
