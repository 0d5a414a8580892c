"""Tasks: a question version put to annotators, with its consensus rule."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whstudio.db import bulk, readpath, tasklist
from whstudio.db import queries as q
from whstudio.domain import keyed
from whstudio.domain import questions as questions_domain
from whstudio.errors import Conflict, InvalidInput, NotFound


async def create_task(
    conn: AsyncConnection,
    *,
    question_id: UUID,
    title: str,
    creator_id: UUID | None = None,
    description: str = "",
    consensus_threshold: int = 3,
    min_agreement_percentage: Decimal | float = Decimal("70.00"),
    allow_tie: bool = False,
    priority: int = 3,
    status: str = "active",
    expires_at: datetime | None = None,
    source_key: str | None = None,
    metadata: dict[str, Any] | None = None,
    count_model_votes: bool = False,
) -> dict[str, Any]:
    """Create a task (its consensus row comes with it) and return it.

    source_key: the item's identity in the source it came from (model pair, turn, source id);
    metadata: that item's own facts (model names, turn), read over the question's;
    count_model_votes: whether model judges' answers count in its consensus as people's do."""
    row = await q.fetch_one(
        conn,
        "tasks.insert",
        {
            "question_id": question_id,
            "creator_id": creator_id,
            "title": title,
            "description": description,
            "consensus_threshold": consensus_threshold,
            "min_agreement_percentage": min_agreement_percentage,
            "allow_tie": allow_tie,
            "priority": priority,
            "status": status,
            "expires_at": expires_at,
            "source_key": source_key,
            "metadata": Jsonb(metadata or {}),
            "count_model_votes": count_model_votes,
        },
    )
    assert row is not None
    return row


async def task_for_question(conn: AsyncConnection, question_id: UUID) -> UUID | None:
    """Return the first task asking this question without a source key, if any."""
    row = await q.fetch_one(conn, "tasks.for_question", {"question_id": question_id})
    return row["id"] if row else None


async def task_for_item(
    conn: AsyncConnection,
    question_id: UUID,
    source_key: str | None,
    metadata: dict[str, Any] | None = None,
) -> UUID | None:
    """Return the task of a source item: the one with its source_key, or without a key the
    question's first task that has none. An item with model names (`metadata`) also finds the
    task an import made for it before tasks kept their source identity, which then takes the
    key (see `tasks.adopt_unkeyed`)."""
    if source_key is None:
        return await task_for_question(conn, question_id)
    row = await q.fetch_one(
        conn, "tasks.for_source_key", {"question_id": question_id, "source_key": source_key}
    )
    if row is None and metadata and metadata.get("model_a") and metadata.get("model_b"):
        low, high = sorted((str(metadata["model_a"]), str(metadata["model_b"])))
        turn = metadata.get("turn")
        row = await q.fetch_one(
            conn,
            "tasks.adopt_unkeyed",
            {
                "question_id": question_id,
                "source_key": source_key,
                "metadata": Jsonb(metadata),
                "low": low,
                "high": high,
                "turn": Jsonb(turn) if turn is not None else None,
            },
        )
    return row["id"] if row else None


async def overview(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    """Return question counts per dataset and task counts per status."""
    return {
        "datasets": await q.fetch_all(conn, "questions.count_by_dataset"),
        "statuses": await q.fetch_all(conn, "tasks.count_by_status"),
    }


# --- the task dashboard -------------------------------------------------------------------


def encode_cursor(value: Any, task_id: UUID, sort: str) -> str:
    """Return a signed keyset cursor for the row after which the next page starts.

    Signed with the server's secret and bound to its sort, so a caller can neither make one up
    (to probe the order of values they may not see) nor carry one to another sort. Only staff
    may sort by a value annotators do not see (agreement), so no cursor an annotator holds
    carries a hidden value."""
    raw = json.dumps(
        [sort, value.isoformat() if isinstance(value, datetime) else str(value), str(task_id)]
    )
    return keyed.seal("task-list-cursor", raw.encode())


def decode_cursor(cursor: str, sort: str) -> tuple[str, UUID]:
    """Return (sort value as text, task id) from a cursor, or raise InvalidInput."""
    payload = keyed.unseal("task-list-cursor", cursor)
    refusal = InvalidInput(
        "cursor is not one this list returned for this sort (a cursor is kept as given, and"
        " only with the sort it came from)",
        field="cursor",
    )
    if payload is None:
        raise refusal
    try:
        made_for, value, task = json.loads(payload)
        task_id = UUID(task)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise refusal from exc
    if made_for != sort:
        raise refusal
    return str(value), task_id


async def list_tasks(
    conn: AsyncConnection,
    *,
    filters: dict[str, Any],
    sort: str = "created",
    limit: int = 50,
    cursor: str | None = None,
    with_total: bool = True,
) -> dict[str, Any]:
    """Return one keyset page of the task dashboard, the cursor of the next, and the total."""
    params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    after = decode_cursor(cursor, sort) if cursor is not None else None
    rows = await tasklist.page(conn, filters=params, sort=sort, after=after, limit=limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["sort_value"], rows[-1]["id"], sort)
    total = await tasklist.total(conn, filters=params) if with_total else None
    for row in rows:
        row.pop("sort_value", None)
    return {"items": rows, "next_cursor": next_cursor, "total": total}


async def detail(conn: AsyncConnection, task_id: UUID) -> dict[str, Any]:
    """Return a task with its question, or raise NotFound."""
    row = await q.fetch_one(conn, "tasks.detail", {"task_id": task_id})
    if row is None:
        raise NotFound("no such task", field="task_id")
    # During a legacy migration the question may still be read from the old structure.
    return await readpath.apply(conn, row)


async def latest_answer(
    conn: AsyncConnection, task_id: UUID, user_id: UUID
) -> dict[str, Any] | None:
    """Return the user's newest answer to a task, if any; with `counted_answer`, the one that
    counts, when the newest was given after its author could see others' answers."""
    params = {"task_id": task_id, "user_id": user_id}
    newest = await q.fetch_one(conn, "tasks.latest_answer", params)
    if newest is not None and not newest["counted"]:
        newest["counted_answer"] = await q.fetch_one(conn, "tasks.counted_answer", params)
    return newest


TRANSITIONS = {
    "pause": ({"active"}, "paused"),
    "resume": ({"paused", "draft"}, "active"),
    "close": ({"active", "paused", "draft"}, "completed"),
}


async def change_status(conn: AsyncConnection, task_id: UUID, action: str) -> str:
    """Pause, resume or close a task; return its new status. Raise Conflict when not allowed."""
    row = await q.fetch_one(conn, "tasks.status", {"task_id": task_id})
    if row is None:
        raise NotFound("no such task", field="task_id")
    allowed, target = TRANSITIONS[action]
    if row["status"] not in allowed:
        raise Conflict(f"cannot {action} a task that is {row['status']}", field="status")
    await q.fetch_one(conn, "tasks.set_status", {"task_id": task_id, "status": target})
    return target


async def change_rule(conn: AsyncConnection, task_id: UUID, changes: dict[str, Any]) -> None:
    """Change a task's consensus rule or scheduling; its consensus is recomputed in the same
    transaction (trigger)."""
    params = {
        "task_id": task_id,
        "consensus_threshold": changes.get("consensus_threshold"),
        "min_agreement_percentage": changes.get("min_agreement_percentage"),
        "allow_tie": changes.get("allow_tie"),
        "count_model_votes": changes.get("count_model_votes"),
        "priority": changes.get("priority"),
        "expires_at": changes.get("expires_at"),
        "clear_expiry": "expires_at" in changes and changes["expires_at"] is None,
    }
    if await q.fetch_one(conn, "tasks.set_rule", params) is None:
        raise NotFound("no such task", field="task_id")


RULE_FIELDS = (
    "consensus_threshold",
    "min_agreement_percentage",
    "allow_tie",
    "count_model_votes",
    "priority",
)


async def change_rules(
    conn: AsyncConnection, filters: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """Change the rule of every task the filters pick, in one statement; each changed task's
    consensus is recomputed in the same transaction. Return how many tasks matched, how many
    changed, and how many had reached consensus before and after.

    filters: dataset, question_type, status, task_ids, metadata (containment); changes: any of
    RULE_FIELDS. Raises InvalidInput when there is nothing to change or no filter and not
    `all`."""
    given = {k: v for k, v in changes.items() if k in RULE_FIELDS and v is not None}
    if not given:
        raise InvalidInput(f"give at least one of {', '.join(RULE_FIELDS)}", field="changes")
    chosen = {k: filters.get(k) for k in ("dataset", "question_type", "status", "task_ids")}
    metadata = filters.get("metadata")
    if not filters.get("all") and all(v is None for v in (*chosen.values(), metadata)):
        raise InvalidInput(
            "name the tasks (dataset, question_type, status, task_ids, metadata) or say all",
            field="filter",
        )
    params = {
        **chosen,
        "metadata": Jsonb(metadata) if metadata is not None else None,
        **{k: given.get(k) for k in RULE_FIELDS},
    }
    picked = await q.fetch_all(conn, "tasks.pick_for_rules", params)
    changed_ids = [p["id"] for p in picked if p["changes"]]
    if len(changed_ids) >= SET_BASED_FROM:
        await _change_rules_set_based(conn, changed_ids, params)
    else:  # a few tasks: each through its trigger
        await q.fetch_all(conn, "tasks.set_rules_of", {**params, "ids": changed_ids})
    after = await q.fetch_one(conn, "tasks.reached_among", {"task_ids": changed_ids})
    assert after is not None
    reached_before = sum(p["reached"] for p in picked)
    return {
        "matched": len(picked),
        "changed": len(changed_ids),
        "consensus_reached_before": reached_before,
        "consensus_reached_after": reached_before
        - sum(p["reached"] for p in picked if p["changes"])
        + after["reached"],
        "rule": given,
    }


# From this many tasks a rule change is replayed in the application and written set-based
# (one statement per table) instead of task by task through the triggers; both end alike
# (tests/db/test_rules_set_based.py).
SET_BASED_FROM = 20


async def _change_rules_set_based(
    conn: AsyncConnection, task_ids: list[UUID], params: dict[str, Any]
) -> None:
    """The new rule of many tasks, replayed (domain/importing/replay.py) from their state,
    locked, in id order as the triggers would take them, and written set-based."""
    from whstudio.domain.importing import replay, replay_store

    async with replay_store.own_transaction(conn):
        setting = await replay_store.rows(conn, "import_answers.bulk_on", {})
        rp = replay.Replay(setting[0]["now"], setting[0]["ln_prior_odds"])
        await replay_store.load(conn, rp, task_ids, set())
        changed = await replay_store.rows(conn, "tasks.set_rules_of", {**params, "ids": task_ids})
        for row in sorted(changed, key=lambda r: r["id"]):
            rp.change_rule(
                row["id"],
                threshold=row["threshold"],
                rebuilt=row["rebuilt"],
                count_model_votes=row["count_model_votes"] if row["models_moved"] else None,
            )
        await q.execute(conn, "tasks.sync_priority", {"ids": task_ids})
        if rp.moved_answers:
            await q.execute(
                conn,
                "import_answers.moved_in_consensus",
                {
                    "ids": [a.id for a in rp.moved_answers],
                    "flags": [a.in_consensus for a in rp.moved_answers],
                },
            )
        await replay_store.write_moved(conn, rp)
        await replay_store.rows(conn, "import_answers.bulk_off", {})


async def create_many(
    conn: AsyncConnection, items: list[dict[str, Any]], *, creator_id: UUID | None
) -> list[dict[str, Any]]:
    """Create questions (stored once per content) and a task for each item; all or nothing.

    An item whose question already has a task gets a second task only if it asks for one
    (`new_task`), so a repeated request creates nothing.
    """
    out = []
    async with bulk.counts_later(conn):  # the new tasks counted once, at the end
        for index, item in enumerate(items):
            try:
                question, created = await questions_domain.get_or_create(
                    conn,
                    question_type=item["question_type"],
                    content=item["content"],
                    gold_standard=item.get("gold_standard"),
                    source_dataset=item.get("source_dataset"),
                    source_ref=item.get("source_ref"),
                    metadata=item.get("metadata"),
                    created_by=creator_id,
                )
            except InvalidInput as exc:
                raise InvalidInput(exc.message, field=f"items.{index}.content.{exc.field}") from exc
            source_key = item.get("source_key")
            task_id = None
            if not item.get("new_task"):
                task_id = await task_for_item(conn, question["id"], source_key)
            task_created = task_id is None
            if task_id is None:
                task = await create_task(
                    conn,
                    question_id=question["id"],
                    title=item.get("title") or " ".join(item["content"]["prompt"].split())[:200],
                    creator_id=creator_id,
                    description=item.get("description") or "",
                    consensus_threshold=item.get("consensus_threshold", 3),
                    min_agreement_percentage=item.get("min_agreement_percentage", Decimal("70")),
                    allow_tie=item.get("allow_tie", False),
                    count_model_votes=item.get("count_model_votes", False),
                    priority=item.get("priority", 3),
                    expires_at=item.get("expires_at"),
                    source_key=source_key,
                    metadata=item.get("metadata") if source_key is not None else None,
                )
                task_id = task["id"]
            out.append(
                {
                    "question_id": question["id"],
                    "question_created": created,
                    "task_id": task_id,
                    "task_created": task_created,
                }
            )
    made = sum(1 for o in out if o["task_created"])
    await bulk.analyze_grown(
        conn,
        {
            "questions": sum(1 for o in out if o["question_created"]),
            "tasks": made,
            "response_consensus": made,
        },
    )
    return out
