"""Import of items of every question type from JSONL, JSON, CSV or Parquet, with a column
mapping, and of the MT-Bench human-judgments layout with its recorded answers.

Two steps: `check` reads and validates every row without touching the database and returns the
items and the bad rows with their reasons; `store` writes the items (question, task and the
answers recorded with them, each item in a savepoint) inside the caller's transaction. By
default a file with any bad row is refused as a whole, so an import is never half done.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.db.errors import domain_error
from whstudio.domain import questions as questions_domain
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.importing import MAX_FIELD_CHARS
from whstudio.errors import InvalidInput, WhError
from whstudio.schemas import ImportIssue, ImportReport

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
MTBENCH_COLUMNS = frozenset(
    {"question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b"}
)
MTBENCH_JUDGMENTS = "mt_bench_human_judgments"
# The fields each type reads, with the column names looked for when no mapping is given.
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "pairwise_ab": {
        "prompt": ("prompt", "question", "instruction"),
        "optionA": ("optionA", "option_a", "response_a", "answer_a"),
        "optionB": ("optionB", "option_b", "response_b", "answer_b"),
        "gold": ("gold", "gold_standard", "label"),
        "model_a": ("model_a", "modelA"),
        "model_b": ("model_b", "modelB"),
        "id": ("id", "question_id"),
    },
    "ranking": {
        "prompt": ("prompt", "question", "instruction"),
        "options": ("options", "responses", "candidates"),
        "gold": ("gold", "gold_ranking", "ranking"),
        "id": ("id", "question_id"),
    },
    "text_generation": {
        "prompt": ("prompt", "question", "instruction"),
        "gold": ("gold", "reference", "reference_answer"),
        "id": ("id", "question_id"),
    },
    "voice_transcription": {
        "prompt": ("prompt", "instruction"),
        "audio_url": ("audio_url", "audio", "url"),
        "gold": ("gold", "transcript", "reference"),
        "id": ("id", "question_id"),
    },
}
_WINNERS = {"model_a": "A", "model_b": "B", "tie": "tie", "tie (bothbad)": "tie"}
_USERNAME_BAD = re.compile(r"[^A-Za-z0-9_.@-]")


class ImportRefused(WhError):
    """A strict import found bad rows: nothing was stored; the report lists them."""

    status = 422
    code = "invalid"

    def __init__(self, report: ItemsReport) -> None:
        first = report.failed[0] if report.failed else None
        message = f"{len(report.failed)} bad row(s); nothing was imported" + (
            f" (row {first.line}: {first.reason})" if first else ""
        )
        super().__init__(message, field="file")
        self.report = report


class ItemsReport(ImportReport):
    layout: str = "items"
    users_created: int = 0
    responses_created: int = 0
    responses_existing: int = 0


@dataclass
class Answer:
    line: int
    judge: str
    chosen_response: str
    shown_order: str
    key: str


@dataclass
class Item:
    lines: list[int]
    question_type: str
    content: dict[str, Any]
    gold: Any = None
    source_ref: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    title: str | None = None


@dataclass
class Checked:
    layout: str
    question_type: str
    rows: int = 0
    items: list[Item] = field(default_factory=list)
    failed: list[ImportIssue] = field(default_factory=list)


# --- reading -------------------------------------------------------------------------------


def read_rows(data: bytes, filename: str) -> tuple[list[tuple[int, Any]], list[ImportIssue]]:
    """Return (row number, row) pairs and the rows that could not be read at all."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            # An Arrow buffer rather than a Python file object, and no thread pool: a read through
            # a Python file with threads sometimes leaves pool threads that abort the interpreter
            # at exit ("terminate called without an active exception", apache/arrow#34314).
            table = pq.read_table(pa.BufferReader(data), use_threads=False)
        except (pa.ArrowException, OSError) as exc:
            return [], [ImportIssue(line=0, reason=f"not a readable Parquet file: {exc}")]
        return list(enumerate(table.to_pylist(), start=1)), []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [ImportIssue(line=0, reason="the file is not UTF-8 text")]
    if suffix == ".jsonl":
        rows, failed = [], []
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                rows.append((number, json.loads(raw)))
            except json.JSONDecodeError as exc:
                failed.append(ImportIssue(line=number, reason=f"not valid JSON: {exc.msg}"))
        return rows, failed
    if suffix == ".json":
        try:
            data_list = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [ImportIssue(line=exc.lineno, reason=f"not valid JSON: {exc.msg}")]
        if not isinstance(data_list, list):
            return [], [ImportIssue(line=1, reason="a .json file must hold an array of rows")]
        return list(enumerate(data_list, start=1)), []
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        rows, failed = [], []
        for row in reader:
            if None in row:
                failed.append(ImportIssue(line=reader.line_num, reason="more cells than headers"))
            else:
                rows.append((reader.line_num, row))
        return rows, failed
    return [], [
        ImportIssue(
            line=0,
            reason=f"unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}",
        )
    ]


def parse_mapping(pairs: Iterable[str], question_type: str) -> dict[str, str]:
    """Return {field: column} from `field=column` strings; raise InvalidInput on a bad one."""
    if question_type not in FIELDS:
        raise InvalidInput(
            f"question type must be one of {', '.join(FIELDS)}", field="question_type"
        )
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise InvalidInput(f"mapping {pair!r} must read FIELD=COLUMN", field="map")
        if name not in FIELDS[question_type]:
            raise InvalidInput(
                f"{question_type} has no field {name!r}; fields: "
                f"{', '.join(FIELDS[question_type])}",
                field="map",
            )
        mapping[name] = column
    return mapping


def is_mtbench_judgments(rows: list[tuple[int, Any]]) -> bool:
    """Whether the rows have the MT-Bench human-judgments columns."""
    first = next((row for _, row in rows if isinstance(row, dict)), None)
    return first is not None and set(first) >= MTBENCH_COLUMNS


# --- checking ------------------------------------------------------------------------------


def _value(row: dict[str, Any], name: str, aliases: tuple[str, ...], mapping: dict[str, str]):
    if name in mapping:
        if mapping[name] not in row:
            raise InvalidInput(f"column {mapping[name]!r} (for {name}) is missing", field=name)
        return row[mapping[name]]
    for alias in aliases:
        if alias in row:
            return row[alias]
    return None


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise InvalidInput(f"{name} is missing", field=name)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, not {type(value).__name__}", field=name)
    if required and not value.strip():
        raise InvalidInput(f"{name} is empty", field=name)
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidInput(f"{name} is longer than {MAX_FIELD_CHARS} characters", field=name)
    return value


def _list(value: Any, name: str) -> list | None:
    """A list as it comes from JSON or Parquet, or a JSON array in a CSV cell."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidInput(f"{name} must be a JSON array", field=name) from None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a list", field=name)
    return value


def _item(row: Any, line: int, question_type: str, mapping: dict[str, str]) -> Item:
    if not isinstance(row, dict):
        raise InvalidInput(f"expected an object, got {type(row).__name__}")
    spec = FIELDS[question_type]
    get = {name: _value(row, name, aliases, mapping) for name, aliases in spec.items()}
    content: dict[str, Any] = {}
    gold: Any = None
    metadata: dict[str, Any] = {}
    if question_type == "pairwise_ab":
        for name in ("prompt", "optionA", "optionB"):
            content[name] = _text(get[name], name, required=True)
        gold = questions_domain.normalize_pairwise_gold(get["gold"])
        for name in ("model_a", "model_b"):
            if (model := _text(get[name], name, required=False)) is not None:
                metadata[name] = model
    elif question_type == "ranking":
        content["prompt"] = _text(get["prompt"], "prompt", required=True)
        options = _list(get["options"], "options")
        if options is None:
            raise InvalidInput("options is missing", field="options")
        content["options"] = [_text(o, "options", required=False) or "" for o in options]
        gold = _list(get["gold"], "gold")
        if gold is not None and sorted(gold) != list(range(len(options))):
            raise InvalidInput(
                f"gold must order every option index 0..{len(options) - 1} once", field="gold"
            )
    elif question_type == "text_generation":
        content["prompt"] = _text(get["prompt"], "prompt", required=True)
        gold = _text(get["gold"], "gold", required=False)
    else:
        content["prompt"] = _text(get["prompt"], "prompt", required=False) or (
            "Transcribe the recording."
        )
        content["audio_url"] = _text(get["audio_url"], "audio_url", required=True)
        gold = _text(get["gold"], "gold", required=False)
    content = questions_domain.validate_content(question_type, content)
    return Item(
        lines=[line],
        question_type=question_type,
        content=content,
        gold=gold,
        source_ref=_text(get["id"], "id", required=False),
        metadata=metadata,
    )


def _conversation(value: Any, name: str, turn: int) -> list[tuple[str, str]]:
    messages = _list(value, name)
    if messages is None:
        raise InvalidInput(f"{name} is missing", field=name)
    pairs = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise InvalidInput(f"{name} must be a list of {{role, content}} messages", field=name)
        pairs.append((message.get("role"), message["content"]))
    roles = [role for role, _ in pairs[: 2 * turn]]
    if len(pairs) < 2 * turn or roles != ["user", "assistant"] * turn:
        raise InvalidInput(
            f"{name} needs alternating user/assistant messages through turn {turn}", field=name
        )
    return pairs[: 2 * turn]


def _judge_name(judge: str, prefix: str) -> str:
    name = _USERNAME_BAD.sub("_", f"{prefix}{judge}")[:64]
    return name if name[:1].isalnum() else f"j{name}"[:64]


def _mtbench_item(row: Any, line: int, prefix: str) -> Item:
    if not isinstance(row, dict):
        raise InvalidInput(f"expected an object, got {type(row).__name__}")
    qid = _text(row.get("question_id"), "question_id", required=True)
    model_a = _text(row.get("model_a"), "model_a", required=True)
    model_b = _text(row.get("model_b"), "model_b", required=True)
    if model_a == model_b:
        raise InvalidInput("model_a and model_b are the same model", field="model_b")
    winner = _WINNERS.get(str(row.get("winner")).strip().lower())
    if winner is None:
        raise InvalidInput(
            f"winner must be model_a, model_b or tie, not {row.get('winner')!r}", field="winner"
        )
    judge = _text(row.get("judge"), "judge", required=True)
    turn = row.get("turn", 1)
    if isinstance(turn, str) and turn.strip().isdigit():
        turn = int(turn)
    if turn not in (1, 2):
        raise InvalidInput(f"turn must be 1 or 2, not {turn!r}", field="turn")
    conv_a = _conversation(row.get("conversation_a"), "conversation_a", turn)
    conv_b = _conversation(row.get("conversation_b"), "conversation_b", turn)
    asked_a = [text for role, text in conv_a if role == "user"]
    asked_b = [text for role, text in conv_b if role == "user"]
    if asked_a != asked_b:
        raise InvalidInput("conversation_a and conversation_b ask different questions")
    answers_a = [text for role, text in conv_a if role == "assistant"]
    answers_b = [text for role, text in conv_b if role == "assistant"]
    # One question per (question, unordered model pair, turn): the pair is stored with its models
    # in name order, so judgments shown either way round count on the same task; the order the
    # judge saw is kept as the answer's shown_order.
    flipped = model_b < model_a
    if flipped:
        model_a, model_b = model_b, model_a
        answers_a, answers_b = answers_b, answers_a
        winner = {"A": "B", "B": "A"}.get(winner, winner)

    def side(answers: list[str]) -> str:
        if turn == 1:
            return answers[0]
        return f"Turn 1:\n{answers[0]}\n\nTurn 2:\n{answers[1]}"

    prompt = asked_a[0] if turn == 1 else f"Turn 1:\n{asked_a[0]}\n\nTurn 2:\n{asked_a[1]}"
    content = questions_domain.validate_content(
        "pairwise_ab", {"prompt": prompt, "optionA": side(answers_a), "optionB": side(answers_b)}
    )
    for name, text in content.items():
        _text(text, name, required=name == "prompt")
    identity = json.dumps([qid, model_a, model_b, turn, judge, winner, line], ensure_ascii=False)
    return Item(
        lines=[line],
        question_type="pairwise_ab",
        content=content,
        source_ref=qid,
        metadata={"model_a": model_a, "model_b": model_b, "turn": turn},
        title=f"A/B Preference – MT-Bench #{qid} turn {turn}: {model_a} vs {model_b}",
        answers=[
            Answer(
                line=line,
                judge=_judge_name(judge, prefix),
                chosen_response=winner,
                shown_order="BA" if flipped else "AB",
                key="import:" + hashlib.sha256(identity.encode()).hexdigest()[:40],
            )
        ],
    )


def _merge(items: list[Item]) -> list[Item]:
    """Fold rows that ask the same question into one item carrying all their answers."""
    merged: dict[str, Item] = {}
    for item in items:
        key = json.dumps([item.question_type, item.content], sort_keys=True)
        if key in merged:
            merged[key].lines += item.lines
            merged[key].answers += item.answers
        else:
            merged[key] = item
    return list(merged.values())


def check(
    rows: list[tuple[int, Any]],
    *,
    question_type: str | None = None,
    mapping: dict[str, str] | None = None,
    judge_prefix: str = "mtbench.",
    unreadable: list[ImportIssue] | None = None,
) -> Checked:
    """Validate every row; return the items and each bad row with its reason. No database."""
    mtbench = question_type is None and not mapping and is_mtbench_judgments(rows)
    kind = "pairwise_ab" if mtbench or question_type is None else question_type
    if kind not in FIELDS:
        raise InvalidInput(f"question type must be one of {', '.join(FIELDS)}", field="type")
    checked = Checked(
        layout="mtbench_judgments" if mtbench else "items",
        question_type=kind,
        rows=len(rows) + len(unreadable or []),
        failed=list(unreadable or []),
    )
    items = []
    for line, row in rows:
        try:
            if mtbench:
                items.append(_mtbench_item(row, line, judge_prefix))
            else:
                items.append(_item(row, line, kind, mapping or {}))
        except InvalidInput as exc:
            where = f"{exc.field}: " if exc.field and exc.field not in exc.message else ""
            checked.failed.append(ImportIssue(line=line, reason=where + exc.message))
    checked.items = _merge(items)
    checked.failed.sort(key=lambda issue: issue.line)
    return checked


def check_file(
    data: bytes,
    filename: str,
    *,
    question_type: str | None = None,
    mapping: Iterable[str] = (),
    judge_prefix: str = "mtbench.",
) -> Checked:
    """Read a file's rows and check them with a `FIELD=COLUMN` mapping (see `check`)."""
    rows, unreadable = read_rows(data, filename)
    fields = parse_mapping(mapping, question_type or "pairwise_ab")
    return check(
        rows,
        question_type=question_type,
        mapping=fields,
        judge_prefix=judge_prefix,
        unreadable=unreadable,
    )


def dataset_name(checked: Checked, filename: str, given: str | None = None) -> str:
    """The dataset the items go to: the one given, else MT-Bench's or the file's name."""
    if given:
        return given
    return MTBENCH_JUDGMENTS if checked.layout == "mtbench_judgments" else Path(filename).stem


# --- storing -------------------------------------------------------------------------------


async def _judge_ids(conn: AsyncConnection, names: set[str], report: ItemsReport) -> dict:
    ids: dict[str, UUID] = {}
    for name in sorted(names):
        row = await q.fetch_one(
            conn,
            "import_items.ensure_judge",
            {"username": name, "display_name": f"Imported judge {name}"},
        )
        assert row is not None
        ids[name] = row["id"]
        report.users_created += int(row["created"])
    return ids


async def store(
    conn: AsyncConnection,
    checked: Checked,
    *,
    source: str,
    dataset: str,
    creator_id: UUID | None = None,
    consensus_threshold: int = 3,
    min_agreement_percentage: float = 70.0,
    allow_tie: bool | None = None,
    strict: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> ItemsReport:
    """Store the checked items in the caller's transaction and return the report.

    strict: refuse the whole file (raise ImportRefused, nothing written) if any row is bad or
    any item fails to store; otherwise store the good items and list the bad rows.
    """
    report = ItemsReport(
        source=source, rows=checked.rows, failed=list(checked.failed), layout=checked.layout
    )
    if strict and report.failed:
        raise ImportRefused(report)
    tie = checked.layout == "mtbench_judgments" if allow_tie is None else allow_tie
    judges = await _judge_ids(
        conn, {a.judge for item in checked.items for a in item.answers}, report
    )
    for item in checked.items:
        try:
            async with conn.transaction():
                await _store_item(
                    conn,
                    item,
                    report,
                    judges=judges,
                    dataset=dataset,
                    creator_id=creator_id,
                    rule=(consensus_threshold, min_agreement_percentage, tie),
                )
        except WhError as exc:
            issue = ImportIssue(line=item.lines[0], reason=exc.message)
            if strict:
                report.failed.append(issue)
                raise ImportRefused(report) from exc
            report.failed.append(issue)
        if on_progress:
            on_progress(len(item.lines))
    report.failed.sort(key=lambda issue: issue.line)
    return report


async def _store_item(conn, item: Item, report: ItemsReport, *, judges, dataset, creator_id, rule):
    threshold, min_agreement, tie = rule
    gold = item.gold
    if gold == "tie" and not tie:
        raise InvalidInput("gold 'tie' but the tasks do not allow ties (use --allow-tie)")
    metadata = dict(item.metadata)
    if len(item.lines) > 1:
        metadata["source_lines"] = item.lines
    question, created = await questions_domain.get_or_create(
        conn,
        question_type=item.question_type,
        content=item.content,
        gold_standard=gold,
        source_dataset=dataset,
        source_ref=item.source_ref,
        metadata=metadata,
        created_by=creator_id,
    )
    report.questions_created += int(created)
    report.questions_existing += int(not created)
    task_id = await tasks_domain.task_for_question(conn, question["id"])
    if task_id is None:
        preview = " ".join(item.content["prompt"].split())[:80]
        task = await tasks_domain.create_task(
            conn,
            question_id=question["id"],
            title=item.title or f"{item.question_type} – {dataset}: {preview}",
            creator_id=creator_id,
            consensus_threshold=threshold,
            min_agreement_percentage=min_agreement,
            allow_tie=tie,
        )
        task_id = task["id"]
        report.tasks_created += 1
    else:
        report.tasks_existing += 1
    for answer in item.answers:
        try:
            row = await q.fetch_one(
                conn,
                "responses.submit",
                {
                    "task_id": task_id,
                    "user_id": judges[answer.judge],
                    "chosen_response": answer.chosen_response,
                    "ranking": None,
                    "text": None,
                    "transcript": None,
                    "confidence": None,
                    "explanation": None,
                    "time_spent_seconds": None,
                    "shown_order": answer.shown_order,
                    "idempotency_key": answer.key,
                },
            )
        except psycopg.DatabaseError as exc:
            raise domain_error(exc) from exc
        replayed = row["result"]["replayed"]
        report.responses_existing += int(replayed)
        report.responses_created += int(not replayed)


def report_json(report: ItemsReport) -> str:
    """Return the report as JSON text (for scripts)."""
    return report.model_dump_json(indent=2)
