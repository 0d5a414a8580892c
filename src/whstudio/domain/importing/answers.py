"""Existing answers in bulk: a file of (item, annotator, answer) rows, for tasks already here.

The shapes people have: the plain (task, worker, label) CSV of crowdsourcing tools and
crowd-kit, JSON Lines or Parquet with a time, a confidence and when it was given, for any of the
four question types. Rows are read and checked first (no database), every bad row with its
reason; then resolved against the tasks and stored in one transaction, in the order they were
given (by created_at when every row says it, else as written): replayed in memory by the rules
the answer path's triggers apply (replay.py) and written set-based (replay_store.py), so the
state they leave is the one submitting them one by one leaves (tests/importing/
test_import_replay.py compares the two on every table). A row's answer gets an idempotency key
made from the row (and which of its annotator's answers to the task it is), so an interrupted
or repeated import adds nothing twice.

What is usable is used and reported: confidence written as fractions (0.8; decided once per
file) or a word ("high") is read on the 1-5 scale, a time as a string is read as seconds, a
time given as milliseconds since 1970 is read so; what cannot be
understood in an optional field is dropped with a note, and only a row whose item, annotator or
answer cannot be understood is refused. The order each annotator saw the two sides in is not
known for an imported answer: it is stored as unknown, so it never counts toward a position
bias.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import Field

from whstudio.db import bulk
from whstudio.db import queries as q
from whstudio.domain import responses as responses_domain
from whstudio.domain.importing import replay, replay_store
from whstudio.domain.importing.persist import ImportRefused, import_account
from whstudio.domain.importing.sources import Row, read_rows
from whstudio.domain.importing.validate import column_value
from whstudio.errors import InvalidInput
from whstudio.schemas import ImportIssue, ImportReport

# The fields a row gives, with the column names looked for when no mapping is given.
ANSWER_FIELDS: dict[str, tuple[str, ...]] = {
    "task_id": ("task_id",),
    "item": ("item", "task", "item_id", "source_ref", "id"),
    "annotator": ("annotator", "worker", "worker_id", "user", "username", "judge"),
    "answer": ("answer", "label", "chosen_response", "choice", "ranking", "text", "transcript"),
    "time_spent_seconds": ("time_spent_seconds", "time_spent", "seconds", "duration", "time"),
    "confidence": ("confidence",),
    "created_at": ("created_at", "timestamp", "submitted_at"),
}
_CHOICES = {"a": "A", "b": "B", "tie": "tie"}
_CONFIDENCE_WORDS = {
    "very low": 1,
    "low": 2,
    "medium": 3,
    "moderate": 3,
    "high": 4,
    "very high": 5,
}
_USERNAME_BAD = re.compile(r"[^A-Za-z0-9_.@-]")
MAX_TEXT = 100_000
_KEY_USED = "the row's answer key was used for another task"


@dataclass
class AnswerRow:
    line: int
    task_id: UUID | None
    item: str | None
    annotator: str
    answer: Any  # as read; made the task type's answer once the task is known
    time_spent_seconds: int | None = None
    confidence: int | None = None
    created_at: datetime | None = None


@dataclass
class CheckedAnswers:
    """The rows that can be stored, each bad row with its reason, and what was read otherwise."""

    rows: int = 0
    answers: list[AnswerRow] = field(default_factory=list)
    failed: list[ImportIssue] = field(default_factory=list)
    changed: Counter = field(default_factory=Counter)  # "what was read as what" -> rows


class AnswersReport(ImportReport):
    """What an answers import did: created, already there (a row imported before), and why a
    row was refused or a field read otherwise."""

    layout: str = "answers"
    answers_created: int = 0
    answers_existing: int = 0
    annotators_created: int = 0
    seconds: dict[str, float] = Field(default_factory=dict)  # where the time went, by phase


def _lap(report: AnswersReport, phase: str, started: float) -> float:
    now = time.perf_counter()
    report.seconds[phase] = round(report.seconds.get(phase, 0) + now - started, 3)
    return now


# A strict answers import that found bad rows: the same refusal as every import's.
AnswersRefused = ImportRefused


def parse_labels(pairs: Iterable[str]) -> dict[str, str]:
    """`LABEL=CHOICE` pairs (e.g. yes=A, no=B, 0=B): how a file's pairwise labels read."""
    labels: dict[str, str] = {}
    for pair in pairs:
        raw, sep, choice = pair.rpartition("=")
        choice = _CHOICES.get(choice.strip().lower(), "")
        if not sep or not raw.strip() or not choice:
            raise InvalidInput(
                f"label {pair!r} must read LABEL=A, LABEL=B or LABEL=tie", field="labels"
            )
        labels[raw.strip().lower()] = choice
    return labels


def _get(row: dict[str, Any], name: str, mapping: dict[str, str]) -> Any:
    return column_value(row, name, ANSWER_FIELDS[name], mapping)


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def fractions_of_one(values: Iterable[Any]) -> bool:
    """Whether a file writes confidence as a fraction of 1: some value strictly between 0 and
    1. Decided once per file, so that 1.0 means the same in every row (the highest then)."""
    return any(0 < n < 1 for n in map(_number, values) if n is not None)


def _confidence(value: Any, changed: Counter, fractions: bool) -> int | None:
    """The 1-5 confidence a value means, or None (noted) when it means none."""
    if _blank(value):
        return None
    if isinstance(value, str) and (word := " ".join(value.lower().split())) in _CONFIDENCE_WORDS:
        changed[f"confidence {word!r} read as {_CONFIDENCE_WORDS[word]}"] += 1
        return _CONFIDENCE_WORDS[word]
    number = _number(value)
    if number is None:
        changed[f"confidence {str(value)[:40]!r} dropped: not a number or a level"] += 1
        return None
    if fractions and 0 <= number <= 1:
        level = 1 + math.floor(4 * number + 0.5)
        changed[f"confidence {value} read as {level} (a fraction of 1 on the 1-5 scale)"] += 1
        return level
    if number.is_integer() and 1 <= number <= 5:
        return int(number)
    changed[f"confidence {value} dropped: outside 1-5"] += 1
    return None


def _seconds(value: Any, changed: Counter) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            changed["time_spent_seconds dropped: not a number"] += 1
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        changed["time_spent_seconds dropped: not a number"] += 1
        return None
    if not 0 <= value <= 86_400:
        changed["time_spent_seconds dropped: outside 0 to 86400"] += 1
        return None
    if not float(value).is_integer():
        changed["time_spent_seconds rounded to whole seconds"] += 1
    return round(value)


def _when(value: Any) -> datetime | None:
    """A time as ISO 8601 text, or seconds (milliseconds past 10^11) since 1970."""
    if _blank(value):
        return None
    if isinstance(value, datetime):
        found = value
    else:
        number = _number(value)
        try:
            if number is not None:
                found = datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
            elif isinstance(value, str):
                found = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            else:
                raise ValueError
        except (ValueError, OverflowError, OSError):
            raise InvalidInput(
                "created_at must be an ISO 8601 time or seconds since 1970", field="created_at"
            ) from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _text(value: Any, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is missing", field=name)
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{name} is longer than {MAX_TEXT} characters", field=name)
    return value.strip()


def answer_row(
    row: Any, line: int, mapping: dict[str, str], changed: Counter, fractions: bool = False
) -> AnswerRow:
    """Return one row's answer, or raise InvalidInput naming what is wrong with it."""
    if not isinstance(row, dict):
        raise InvalidInput(f"expected an object, got {type(row).__name__}")
    task_id = None
    if not _blank(raw := _get(row, "task_id", mapping)):
        try:
            task_id = UUID(str(raw))
        except ValueError:
            raise InvalidInput("task_id is not a task id", field="task_id") from None
    item = None if task_id else _text(_get(row, "item", mapping), "item")
    answer = _get(row, "answer", mapping)
    if _blank(answer):
        raise InvalidInput("answer is missing", field="answer")
    if hasattr(answer, "tolist"):
        answer = answer.tolist()
    return AnswerRow(
        line=line,
        task_id=task_id,
        item=item,
        annotator=_text(_get(row, "annotator", mapping), "annotator"),
        answer=answer,
        time_spent_seconds=_seconds(_get(row, "time_spent_seconds", mapping), changed),
        confidence=_confidence(_get(row, "confidence", mapping), changed, fractions),
        created_at=_when(_get(row, "created_at", mapping)),
    )


def _confidence_field(row: dict[str, Any], mapping: dict[str, str]) -> Any:
    try:
        return _get(row, "confidence", mapping)
    except InvalidInput:
        return None  # a missing mapped column is the row's own error, reported with it


def check_answers(
    rows: list[Row], mapping: dict[str, str] | None = None, unreadable: list | None = None
) -> CheckedAnswers:
    """Check every row (no database); a bad row is listed with its reason."""
    for name in mapping or {}:
        if name not in ANSWER_FIELDS:
            raise InvalidInput(
                f"an answers file has no field {name!r}; fields: {', '.join(ANSWER_FIELDS)}",
                field="map",
            )
    checked = CheckedAnswers(rows=len(rows) + len(unreadable or []), failed=list(unreadable or []))
    fractions = fractions_of_one(
        _confidence_field(row, mapping or {}) for _, row in rows if isinstance(row, dict)
    )
    for line, row in rows:
        try:
            checked.answers.append(answer_row(row, line, mapping or {}, checked.changed, fractions))
        except InvalidInput as exc:
            where = f"{exc.field}: " if exc.field and exc.field not in exc.message else ""
            checked.failed.append(ImportIssue(line=line, reason=where + exc.message))
    return checked


def check_answers_file(data: bytes, filename: str, mapping: Iterable[str] = ()) -> CheckedAnswers:
    """Read an answers file (.jsonl, .json, .csv, .parquet) and check its rows."""
    fields: dict[str, str] = {}
    for pair in mapping:
        name, sep, column = pair.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise InvalidInput(f"mapping {pair!r} must read FIELD=COLUMN", field="map")
        fields[name.strip()] = column.strip()
    rows, unreadable = read_rows(data, filename)
    return check_answers(rows, fields, unreadable)


# --- storing ------------------------------------------------------------------------------


def _choice(value: Any, labels: dict[str, str], allow_tie: bool) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a label 1 read back from Parquet as 1.0
    key = str(value).strip().lower()
    choice = labels.get(key) if labels else None
    choice = choice or _CHOICES.get(key)
    if choice is None:
        hint = " (map the file's labels with --labels, e.g. yes=A no=B)" if not labels else ""
        raise InvalidInput(f"answer {str(value)[:40]!r} is not A, B or tie{hint}", field="answer")
    if choice == "tie" and not allow_tie:
        raise InvalidInput("answer tie, but the task does not allow ties", field="answer")
    return choice


def _ranking(value: Any, n: int) -> list[int]:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [int(x) for x in text.split(",")]
        except ValueError:
            raise InvalidInput("a ranking is a list of option indexes", field="answer") from None
    try:
        ranking = [int(v) for v in value] if isinstance(value, list) else None
    except (TypeError, ValueError):
        ranking = None
    if ranking is None or sorted(ranking) != list(range(n)):
        raise InvalidInput(f"a ranking orders every option index 0..{n - 1} once", field="answer")
    return ranking


def typed_answer(row: AnswerRow, task: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The answer fields of `responses.submit` for the row's task type."""
    kind = task["question_type"]
    out: dict[str, Any] = {
        "chosen_response": None,
        "ranking": None,
        "text": None,
        "transcript": None,
    }
    if kind == "pairwise_ab":
        out["chosen_response"] = _choice(row.answer, labels, task["allow_tie"])
    elif kind == "ranking":
        out["ranking"] = Jsonb(_ranking(row.answer, task["n_options"]))
    elif kind == "text_generation":
        out["text"] = _text(row.answer, "answer")
    else:
        out["transcript"] = _text(row.answer, "answer")
    return out


def _key(row: AnswerRow, task_id: UUID, answer: dict[str, Any], occurrence: int) -> str:
    """The row's idempotency key: the same row of the same file gives the same key, and the
    k-th answer of an annotator to a task is told from the others even where two say the same
    (A, then B, then A again is three answers, the last one A)."""
    shown = {k: (v.obj if isinstance(v, Jsonb) else v) for k, v in answer.items()}
    identity = json.dumps(
        [
            str(task_id),
            row.annotator,
            shown,
            row.created_at.isoformat() if row.created_at else None,
            row.confidence,
            row.time_spent_seconds,
            occurrence,
        ],
        sort_keys=True,
        ensure_ascii=False,
    )
    return "answers:" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def username(annotator: str, prefix: str) -> str:
    name = _USERNAME_BAD.sub("_", f"{prefix}{annotator}")[:64]
    return name if name[:1].isalnum() else f"a{name}"[:64]


async def _tasks(conn: AsyncConnection, rows: list[AnswerRow], dataset: str | None) -> dict:
    ids = sorted({str(r.task_id) for r in rows if r.task_id})
    refs = sorted({r.item for r in rows if r.item is not None})
    found = await q.fetch_all(
        conn, "import_answers.tasks", {"task_ids": ids, "refs": refs, "dataset": dataset}
    )
    by_id = {row["id"]: row for row in found}
    by_ref: dict[str, list[dict]] = {}
    for row in found:
        if row["source_ref"] is not None and row["source_dataset"] == dataset:
            by_ref.setdefault(row["source_ref"], []).append(row)
    return {"id": by_id, "ref": by_ref}


def _resolve(row: AnswerRow, tasks: dict, dataset: str | None) -> dict[str, Any]:
    if row.task_id is not None:
        task = tasks["id"].get(row.task_id)
        if task is None:
            raise InvalidInput(f"no task {row.task_id}", field="task_id")
        return task
    if dataset is None:
        raise InvalidInput("an item reference needs the dataset it is in (--dataset)", field="item")
    matches = tasks["ref"].get(row.item, [])
    if not matches:
        raise InvalidInput(f"no item {row.item!r} in dataset {dataset!r}", field="item")
    if len(matches) > 1:
        raise InvalidInput(
            f"item {row.item!r} has {len(matches)} tasks (model pairs, turns): give task_id",
            field="item",
        )
    return matches[0]


def answers_report(checked: CheckedAnswers, source: str) -> AnswersReport:
    """The report of checked rows before anything is stored: bad rows, and fields read
    otherwise (how many rows each)."""
    return AnswersReport(
        source=source,
        rows=checked.rows,
        failed=list(checked.failed),
        notes=[f"{n} row(s): {what}" for what, n in sorted(checked.changed.items())],
    )


async def store_answers(
    conn: AsyncConnection,
    checked: CheckedAnswers,
    *,
    source: str,
    dataset: str | None = None,
    labels: dict[str, str] | None = None,
    annotator_prefix: str = "",
    annotator_kind: str = "person",
    groups: Iterable[str] = (),
    strict: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> AnswersReport:
    """Store the checked answers in the caller's transaction, in the order they were given;
    return the report. strict: refuse the whole file (nothing written) if any row is bad;
    otherwise store the good rows and list the bad ones. New annotators are inactive accounts
    named `annotator_prefix` + the file's name for them, of `annotator_kind` (person or model),
    in `groups`."""
    if annotator_kind not in ("person", "model"):
        raise InvalidInput("annotator kind must be person or model", field="annotator_kind")
    report = answers_report(checked, source)
    lap = time.perf_counter()
    tasks = await _tasks(conn, checked.answers, dataset)
    ready: list[tuple[AnswerRow, dict[str, Any], dict[str, Any]]] = []
    for row in checked.answers:
        try:
            task = _resolve(row, tasks, dataset)
            ready.append((row, task, typed_answer(row, task, labels or {})))
        except InvalidInput as exc:
            where = f"{exc.field}: " if exc.field and exc.field not in exc.message else ""
            report.failed.append(ImportIssue(line=row.line, reason=where + exc.message))
    lap = _lap(report, "resolve", lap)
    people, created, refused = await _annotators(
        conn,
        {r.annotator for r, _, _ in ready},
        annotator_prefix,
        annotator_kind,
        sorted(set(groups)),
        report,
    )
    for row, _, _ in ready:
        if row.annotator in refused:
            report.failed.append(ImportIssue(line=row.line, reason=refused[row.annotator]))
    ready = [x for x in ready if x[0].annotator not in refused]
    lap = _lap(report, "accounts", lap)
    report.failed.sort(key=lambda issue: issue.line)
    if strict and report.failed:
        raise AnswersRefused(report)
    # In the order given: by time when every row says when it was given, else as written (a
    # later answer of an annotator to a task revises the earlier one, as in the app).
    if ready and all(r.created_at is not None for r, _, _ in ready):
        ready.sort(key=lambda x: (x[0].created_at, x[0].line))
    seen: Counter = Counter()
    keyed = []
    for row, task, answer in ready:
        seen[(row.annotator, task["id"])] += 1
        keyed.append(
            (row, task, answer, _key(row, task["id"], answer, seen[(row.annotator, task["id"])]))
        )
    if keyed:
        async with replay_store.own_transaction(conn):
            await _replay_and_write(
                conn, keyed, people, created, report, strict=strict, on_progress=on_progress
            )
    report.failed.sort(key=lambda issue: issue.line)
    lap = time.perf_counter()
    await bulk.analyze_grown(
        conn,
        {
            "submissions": report.answers_created,
            "response_quality_metrics": report.answers_created,
            "reputation_events": report.answers_created,
        },
    )
    _lap(report, "analyze", lap)
    return report


async def _annotators(
    conn, names: set[str], prefix: str, kind: str, groups: list[str], report: AnswersReport
) -> tuple[dict[str, UUID], set[UUID], dict[str, str]]:
    """The account of each annotator (made where missing), the accounts made now, and the
    annotators refused: one whose name is an account people sign in with is not taken over by
    a file."""
    ids: dict[str, UUID] = {}
    created: set[UUID] = set()
    refused: dict[str, str] = {}
    for name in sorted(names):
        account = username(name, prefix)
        display = f"Imported annotator {name}"[:200]
        row, why = await import_account(conn, account, display, kind, groups)
        if row is None:
            refused[name] = (
                f"annotator {name!r}: {why}; give the file's annotators a prefix "
                "(--annotator-prefix)"
            )
            continue
        if row["kind"] != kind:
            report.notes.append(f"annotator {account!r} is a {row['kind']}: kept as that")
        ids[name] = row["id"]
        if row["created"]:
            created.add(row["id"])
        report.annotators_created += int(row["created"])
    return ids, created, refused


# --- the replay and its writes --------------------------------------------------------------


def _payload(answer: dict[str, Any]) -> dict | None:
    if answer["ranking"] is not None:
        return {"ranking": answer["ranking"].obj}
    if answer["text"] is not None:
        return {"text": answer["text"]}
    if answer["transcript"] is not None:
        return {"transcript": answer["transcript"]}
    return None


async def _given(conn: AsyncConnection, keyed: list, people: dict, created: set) -> dict:
    """(annotator, key) -> task of the rows imported before (none for accounts made now)."""
    users = sorted({people[row.annotator] for row, _, _, _ in keyed} - created)
    if not users:
        return {}
    found = await replay_store.rows(conn, "import_answers.given_keys", {"users": users})
    wanted = {(people[row.annotator], key) for row, _, _, key in keyed}
    return {
        (r["user_id"], r["key"]): r["task_id"] for r in found if (r["user_id"], r["key"]) in wanted
    }


async def _replay_and_write(
    conn: AsyncConnection,
    keyed: list,
    people: dict[str, UUID],
    created: set[UUID],
    report: AnswersReport,
    *,
    strict: bool,
    on_progress: Callable[[int], None] | None,
) -> None:
    """Replay the rows in order (domain/importing/replay.py) and write the end state: the
    answers and their quality rows by COPY, then one statement per table for what moved. In
    one transaction (the caller's, or one of its own)."""
    lap = time.perf_counter()
    setting = await replay_store.rows(conn, "import_answers.bulk_on", {})
    now = setting[0]["now"]
    rp = replay.Replay(now, setting[0]["ln_prior_odds"])
    # What will be written: a row imported before adds nothing (and its task is not read);
    # one the answer path would refuse (its task closed or expired) is reported, and a strict
    # import stops here.
    given = await _given(conn, keyed, people, created)
    fresh = []
    for row, task, answer, key in keyed:
        user = people[row.annotator]
        earlier = given.get((user, key))
        if earlier is not None and earlier != task["id"]:
            report.failed.append(ImportIssue(line=row.line, reason=_KEY_USED))
        elif earlier is not None:
            report.answers_existing += 1
        else:
            fresh.append((row, task["id"], user, answer, key))
    users = {user for _, _, user, _, _ in fresh}
    await replay_store.load(conn, rp, sorted({task_id for _, task_id, _, _, _ in fresh}), users)
    lap = _lap(report, "load", lap)
    plan = []
    for row, task_id, user, answer, key in fresh:
        if why := rp.refusal(task_id):
            report.failed.append(ImportIssue(line=row.line, reason=why))
        else:
            plan.append((row, task_id, user, answer, key))
    if strict and report.failed:
        report.failed.sort(key=lambda issue: issue.line)
        raise AnswersRefused(report)
    # the last row of an annotator for a task stays the latest; the earlier ones are revised
    last = {(task_id, user): i for i, (_, task_id, user, _, _) in enumerate(plan)}
    written: list[replay.Answer] = []
    async with conn.cursor() as cur:
        # answers there before that the file revises stop being the latest first (one latest
        # answer per annotator and task)
        revised = {
            rp.tasks[task_id].latest[user].id
            for _, task_id, user, _, _ in plan
            if user in rp.tasks[task_id].latest
        }
        if revised:
            await cur.execute(q.QUERIES["import_answers.revised"], {"ids": sorted(revised)})
        # The answers go to the server as the replay makes them: it stores one part while the
        # replay works out the next.
        async with cur.copy(q.QUERIES["import_answers.copy_answers"]) as copy:
            out = replay_store.TextCopy(copy)
            # each row made as COPY text here: ids, choices and weights repeat (made once)
            ids, words, weights = replay_store.Texts(), replay_store.Texts(), replay_store.Texts()
            cell, null, boolean = replay_store.cell, replay_store.NULL, replay_store.BOOL
            now_text = cell(now)
            for i, (row, task_id, user, answer, key) in enumerate(plan):
                a = rp.submit(
                    task_id,
                    user,
                    answer["chosen_response"],
                    _payload(answer),
                    row.confidence,
                    row.time_spent_seconds,
                )
                written.append(a)
                nullifier = rp.nullifier_of.get(a.id)
                await out.line(
                    "\t".join(
                        (
                            a.id,  # made as text (replay._Ids)
                            ids[task_id],
                            ids[user],
                            ids[rp.tasks[task_id].question_id],
                            str(a.version),
                            boolean[last[(task_id, user)] == i],
                            null if a.chosen is None else words[a.chosen],
                            null if a.confidence is None else str(a.confidence),
                            null if a.time_spent is None else str(a.time_spent),
                            null if a.payload is None else cell(a.payload),
                            key,  # "answers:" and hexadecimal digits (_key)
                            null if nullifier is None else words[nullifier],
                            now_text if row.created_at is None else cell(row.created_at),
                            now_text,
                            weights[a.vote_weight],
                            boolean[a.in_consensus],
                        )
                    )
                )
                if on_progress and (i + 1) % 1000 == 0:
                    on_progress(1000)
            await out.flush()
    if on_progress:  # the rest of the bar: rows imported before, the last part
        on_progress(len(keyed) - len(plan) // 1000 * 1000)
    report.answers_created += len(written)
    lap = _lap(report, "replay and write answers", lap)
    await _write(conn, rp, written, report)
    await replay_store.rows(conn, "import_answers.bulk_off", {})
    lap = time.perf_counter()
    talked = sorted({a.task_id for a in written if a.payload and "transcript" in a.payload})
    for task_id in talked:
        # as the app does after a transcript: the medoid and its agreement (jiwer)
        await responses_domain.refresh_transcription(conn, task_id)
    _lap(report, "transcripts", lap)


async def _write(
    conn: AsyncConnection, rp: replay.Replay, written: list, report: AnswersReport
) -> None:
    now = rp.now
    lap = time.perf_counter()
    async with conn.cursor() as cur:
        async with cur.copy(q.QUERIES["import_answers.copy_quality"]) as copy:
            out = replay_store.TextCopy(copy)
            ids, words = replay_store.Texts(), replay_store.Texts()
            cell, null, boolean = replay_store.cell, replay_store.NULL, replay_store.BOOL
            now_text = cell(now)
            shares: dict[tuple, str] = {}  # (agreeing, total) -> the agreement's text
            for a in written:
                m = a.quality
                assert m is not None
                flagged = boolean[bool(m.reasons)]
                sid = m.submission_id
                pair = (m.others_agreeing, m.others_total)
                share = shares.get(pair)
                if share is None:
                    share = shares[pair] = cell(replay_store.agreement(*pair))
                await out.line(
                    "\t".join(
                        (
                            sid if type(sid) is str else cell(sid),
                            ids[m.task_id],
                            ids[m.user_id],
                            words[m.question_type],
                            null if m.choice is None else words[m.choice],
                            boolean[m.picked_left],
                            boolean[m.gold_correct],
                            null if m.gold_source is None else words[m.gold_source],
                            boolean[m.agreed],
                            null if m.others_agreeing is None else str(m.others_agreeing),
                            null if m.others_total is None else str(m.others_total),
                            share,
                            null if m.time_spent is None else str(m.time_spent),
                            flagged,
                            cell(m.reasons) if m.reasons else "{}",
                            flagged,
                            boolean[m.counted],
                            now_text,
                        )
                    )
                )
            await out.flush()
        lap = _lap(report, "write quality", lap)
    laps: dict[str, float] = {}
    await replay_store.write_moved(
        conn, rp, sorted({(a.task_id, a.user_id) for a in written}), laps
    )
    for name, seconds in laps.items():
        report.seconds[name] = seconds
    if (await replay_store.rows(conn, "import_answers.listening", {}))[0]["listening"]:
        async with conn.cursor() as cur:
            await cur.execute(
                q.QUERIES["import_answers.answer_webhooks"], {"ids": [a.id for a in written]}
            )
