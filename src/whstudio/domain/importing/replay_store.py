"""The state a replay (domain/importing/replay.py) starts from, read and locked, and what it
moved, written set-based: the answers import and the rule changes of many tasks share both."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, pq
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from whstudio.db import queries as q
from whstudio.domain.importing import replay

# A write that moves more tasks than this sends no event per task: the listeners' watch sees
# the new consensus versions without their notifications and has every open page catch up
# from the database at once (web/events.py), which a flood of events would only delay.
NOTIFY_LIMIT = 1_000


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def cell(value: Any) -> str:
    """One value in COPY's text format (PostgreSQL parses it by the column's type)."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return value.translate(_ESCAPES)
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is Decimal or kind is UUID:
        return str(value)
    if kind is float:
        return repr(value)
    if kind is datetime:
        return value.isoformat()
    if kind is list:
        return ("{" + ",".join(map(_element, value)) + "}").translate(_ESCAPES)
    if kind is dict:
        return json.dumps(value, ensure_ascii=False).translate(_ESCAPES)
    raise TypeError(f"no COPY text for {kind.__name__}")


NULL = "\\N"
BOOL = {None: NULL, True: "t", False: "f"}  # a boolean column's text, NULL included


class Texts(dict):
    """The COPY text of values repeated on many rows (the ids of tasks and accounts, a
    question type, a reason), made once each: `texts[value]`. Keep one per kind of value
    (True and 1 are one key to a dict)."""

    def __missing__(self, value: Any) -> str:
        text = self[value] = cell(value)
        return text


class TextCopy:
    """Rows for a `COPY ... FROM STDIN` in its text format, made here and sent in chunks: a
    quarter of the time psycopg's row adapter takes for the answers' sixteen columns. `row`
    takes values; `line` a row its caller made already (cells joined by tabs), which the
    import does for its million-row tables: a call of `cell` per value was the largest part
    of its own time."""

    def __init__(self, copy: Any, chunk: int = 2_000) -> None:
        self.copy = copy
        self.chunk = chunk
        self.lines: list[str] = []

    async def row(self, *values: Any) -> None:
        await self.line("\t".join(map(cell, values)))

    async def line(self, text: str) -> None:
        self.lines.append(text)
        if len(self.lines) >= self.chunk:
            await self.flush()

    async def flush(self) -> None:
        if self.lines:
            await self.copy.write("\n".join(self.lines) + "\n")
            self.lines = []


def own_transaction(conn: AsyncConnection) -> contextlib.AbstractAsyncContextManager:
    """A transaction for a bulk write when the caller has none: its setting
    (whstudio.bulk_answers) and its writes must share one."""
    if conn.info.transaction_status == pq.TransactionStatus.IDLE:
        return conn.transaction()
    return contextlib.nullcontext()


TASK_FIELDS = [f.name for f in dataclasses.fields(replay.Task)]


def _lap(laps: dict[str, float], phase: str, started: float) -> float:
    now = time.perf_counter()
    laps[phase] = round(laps.get(phase, 0) + now - started, 3)
    return now


async def load(conn: AsyncConnection, rp: replay.Replay, task_ids: list, user_ids: set) -> None:
    """The state of the tasks and annotators the file touches, locked (tasks first, then
    accounts, then counters: each in id order, as the answer path takes them)."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        # the statement names the Task's first fields in their order: a row is made by position
        # (a dict per row, then a keyword per field, was most of the importer's time loading
        # 200,000 tasks, py-spy)
        await cur.execute(q.QUERIES["import_answers.lock_tasks"], {"tasks": task_ids})
        names = [c.name for c in cur.description or ()]
        if names != TASK_FIELDS[: len(names)]:
            raise RuntimeError(f"import_answers.lock_tasks reads {names}, not Task's fields")
        for row in await cur.fetchall():
            rp.tasks[row[0]] = replay.Task(*row)
    for row in await rows(conn, "import_answers.task_answers", {"tasks": task_ids}):
        task = rp.tasks[row["task_id"]]
        user = row["user_id"]
        user_ids.add(user)
        answer = replay.Answer(
            id=row["id"],
            task_id=row["task_id"],
            user_id=user,
            version=row["version"],
            chosen=row["chosen"],
            payload=row["payload"],
            confidence=row["confidence"],
            time_spent=row["time_spent"],
            in_consensus=row["in_consensus"],
            vote_weight=row["vote_weight"],
            is_latest=row["is_latest"],
        )
        task.versions[user] = max(task.versions.get(user, 0), answer.version)
        task.first.setdefault(user, answer)  # rows come in version order
        if row["nullifier"] is not None:
            task.nullifiers[user] = row["nullifier"]
        if row["has_quality"]:
            answer.quality = replay.Quality(
                submission_id=answer.id,
                task_id=task.id,
                user_id=user,
                question_type=row["m_question_type"],
                choice=row["choice"],
                picked_left=row["picked_left"],
                gold_correct=row["gold_correct"],
                gold_source=row["gold_source"],
                agreed=row["agreed"],
                others_agreeing=row["others_agreeing"],
                others_total=row["others_total"],
                time_spent=row["m_time_spent"],
                reasons=list(row["outlier_reasons"]),
                counted=row["counted"],
            )
            m = answer.quality
            if (
                m.counted
                and m.choice is not None
                and m.gold_correct is None
                and m.others_total is None
            ):
                task.waiting.append(m)
        task.answers.append(answer)
        if answer.is_latest:
            task.latest[user] = answer
    users = sorted(user_ids)
    for row in await rows(conn, "import_answers.lock_users", {"users": users}):
        rp.users[row["id"]] = replay.User(
            id=row["id"],
            kind=row["kind"],
            weight=row["weight"],
            score=row["score"],
            nullifier=row["nullifier"],
            last_score=row["last_score"],
        )
    for row in await rows(conn, "import_answers.lock_stats", {"users": users}):
        rp.users[row["user_id"]].stats = replay.Stats(
            **{name: row[name] for name in replay.STATS_FIELDS},
            ds_accuracy=row["ds_accuracy"],
            ds_labels=row["ds_labels"],
            accuracy=row["accuracy"],
            accuracy_low=row["accuracy_low"],
            accuracy_high=row["accuracy_high"],
            flags=list(row["flags"]),
        )


async def rows(conn: AsyncConnection, name: str, params: dict) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(q.QUERIES[name], params)
        return await cur.fetchall()


def agreement(agreeing: int | None, total: int | None) -> Decimal | None:
    """round(100.0 * agreeing / total, 2), as the quality rows keep it."""
    if not total:
        return None
    return (Decimal(100 * agreeing) / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_UP)


async def write_moved(
    conn: AsyncConnection,
    rp: replay.Replay,
    leases: Iterable[tuple[UUID, UUID]] = (),
    laps: dict[str, float] | None = None,
) -> None:
    """Write what the replay moved besides new answers: reputation events (COPY), then quality
    rows, counters, accounts, consensus rows and task counts (one statement per table), and
    the leases of answered tasks let go. `laps` collects the seconds of each step."""
    laps = {} if laps is None else laps
    lap = time.perf_counter()
    async with conn.cursor() as cur:
        if rp.events:
            async with cur.copy(q.QUERIES["import_answers.copy_events"]) as copy:
                out = TextCopy(copy)
                ids, words = Texts(), Texts()
                for e in rp.events:
                    sid = e.submission_id
                    await out.line(
                        "\t".join(
                            (
                                ids[e.user_id],
                                ids[e.task_id],
                                sid if type(sid) is str else cell(sid),
                                words[e.kind],
                                str(e.delta),
                                str(e.score),
                                words[e.reason],
                            )
                        )
                    )
                await out.flush()
        lap = _lap(laps, "write events", lap)
        await cur.execute(q.QUERIES["import_answers.staging"])
        async with cur.copy(q.QUERIES["import_answers.copy_staged_quality"]) as copy:
            for m in rp.moved_qualities:
                await copy.write_row(
                    (
                        m.submission_id,
                        m.agreed,
                        m.others_agreeing,
                        m.others_total,
                        m.counted,
                        m.judged_now,
                    )
                )
        async with cur.copy(q.QUERIES["import_answers.copy_staged_stats"]) as copy:
            for user in rp.users.values():
                s = user.stats
                if s is not None and s.changed:
                    await copy.write_row(
                        (
                            user.id,
                            *(getattr(s, name) for name in replay.STATS_FIELDS),
                            s.ds_accuracy,
                            s.ds_labels,
                            s.accuracy,
                            s.accuracy_low,
                            s.accuracy_high,
                            s.flags,
                        )
                    )
        async with cur.copy(q.QUERIES["import_answers.copy_staged_users"]) as copy:
            for user in rp.users.values():
                if user.moved:
                    await copy.write_row((user.id, user.score, user.weight))
        async with cur.copy(q.QUERIES["import_answers.copy_staged_consensus"]) as copy:
            for t in rp.tasks.values():
                if t.moved:
                    await copy.write_row(
                        (
                            t.id,
                            t.count_a,
                            t.count_b,
                            t.count_tie,
                            t.total,
                            t.weight_a,
                            t.weight_b,
                            t.weight_tie,
                            t.confidence_sum,
                            t.confidence_count,
                            t.confidence_sum_a,
                            t.confidence_sum_b,
                            t.confidence_sum_tie,
                            t.time_sum,
                            t.time_count,
                            t.ranking_counts,
                            t.ranking_weights,
                        )
                    )
        async with cur.copy(q.QUERIES["import_answers.copy_staged_leases"]) as copy:
            for pair in leases:
                await copy.write_row(pair)
        lap = _lap(laps, "stage", lap)
        for name in ("apply_quality", "apply_stats", "apply_users", "apply_leases"):
            await cur.execute(q.QUERIES[f"import_answers.{name}"])
        lap = _lap(laps, "apply quality, stats, users, leases", lap)
        await cur.execute(q.QUERIES["import_answers.count_tasks"], {"sign": -1})
        moved = await rows(conn, "import_answers.apply_consensus", {})
        await cur.execute(q.QUERIES["import_answers.count_tasks"], {"sign": 1})
        lap = _lap(laps, "apply consensus", lap)
        events = [
            {**r, "reached_changed": r["consensus_reached"] != rp.tasks[r["task_id"]].was_reached}
            for r in moved
        ]
        if 0 < len(events) <= NOTIFY_LIMIT:
            await cur.execute(
                q.QUERIES["import_answers.notify"],
                {"events": Jsonb(json.loads(json.dumps(events, default=str)))},
            )
        lap = _lap(laps, "notify", lap)
        await cur.execute(q.QUERIES["import_answers.unstage"])
