"""Import of pairwise items: the MT-Bench sample (JSON array), JSONL and CSV files.

Parsing is pure and reports each bad line with its number and reason; persisting creates one
question and one task per distinct (prompt, option A, option B), so a second import of the same
file creates nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.domain import questions as questions_domain
from whstudio.domain import tasks as tasks_domain
from whstudio.errors import InvalidInput
from whstudio.schemas import ImportIssue, ImportReport

MTBENCH_DATASET = "mt_bench_human_judgments"
MAX_FIELD_CHARS = 100_000

_ALIASES = {
    "prompt": ("prompt", "question", "instruction"),
    "optionA": ("optionA", "option_a", "response_a", "answer_a"),
    "optionB": ("optionB", "option_b", "response_b", "answer_b"),
    "gold": ("gold", "gold_standard", "label", "winner"),
    "model_a": ("model_a", "modelA"),
    "model_b": ("model_b", "modelB"),
    "id": ("id", "question_id"),
}


@dataclass
class PairwiseItem:
    line: int
    prompt: str
    option_a: str
    option_b: str
    gold: str | None
    source_ref: str | None = None
    model_a: str | None = None
    model_b: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.prompt, self.option_a, self.option_b)


@dataclass
class Parsed:
    items: list[PairwiseItem] = field(default_factory=list)
    failed: list[ImportIssue] = field(default_factory=list)
    rows: int = 0
    mtbench: bool = False


def sample_path() -> Path:
    """Return the path of the MT-Bench sample shipped with the package."""
    return Path(str(resources.files("whstudio.data") / "mtbench_sample.json"))


def _pick(row: dict[str, Any], name: str) -> Any:
    for alias in _ALIASES[name]:
        if alias in row:
            return row[alias]
    return None


def _text(row: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = _pick(row, name)
    if value is None or (isinstance(value, str) and value == "" and not required):
        if required:
            raise InvalidInput(f"{name} is missing", field=name)
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and name in ("id",):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, not {type(value).__name__}", field=name)
    if required and not value.strip() and name == "prompt":
        raise InvalidInput("prompt is empty", field=name)
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidInput(f"{name} is longer than {MAX_FIELD_CHARS} characters", field=name)
    return value


def item_from_row(row: Any, line: int, *, null_gold_is_tie: bool) -> PairwiseItem:
    """Return the pairwise item in one parsed row, or raise InvalidInput with the reason."""
    if not isinstance(row, dict):
        raise InvalidInput(f"expected an object, got {type(row).__name__}")
    gold_raw = _pick(row, "gold")
    gold = questions_domain.normalize_pairwise_gold(gold_raw)
    if gold is None and null_gold_is_tie and gold_raw is None and "gold" in row:
        gold = "tie"
    return PairwiseItem(
        line=line,
        prompt=_text(row, "prompt", required=True) or "",
        option_a=_text(row, "optionA", required=True) or "",
        option_b=_text(row, "optionB", required=True) or "",
        gold=gold,
        source_ref=_text(row, "id", required=False),
        model_a=_text(row, "model_a", required=False),
        model_b=_text(row, "model_b", required=False),
    )


def _collect(rows: Iterable[tuple[int, Any]], parsed: Parsed, *, null_gold_is_tie: bool) -> Parsed:
    for line, row in rows:
        parsed.rows += 1
        if isinstance(row, ImportIssue):
            parsed.failed.append(row)
            continue
        try:
            parsed.items.append(item_from_row(row, line, null_gold_is_tie=null_gold_is_tie))
        except InvalidInput as exc:
            parsed.failed.append(ImportIssue(line=line, reason=exc.message))
    return parsed


def _jsonl_rows(text: str) -> Iterable[tuple[int, Any]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, ImportIssue(line=number, reason=f"not valid JSON: {exc.msg}")


def _csv_rows(text: str) -> Iterable[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        return
    for row in reader:
        if None in row:
            yield (
                reader.line_num,
                ImportIssue(line=reader.line_num, reason="more cells than headers"),
            )
            continue
        yield reader.line_num, row


def parse_text(text: str, filename: str) -> Parsed:
    """Parse a file's text by its extension: .json (MT-Bench array), .jsonl or .csv."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return Parsed(
                failed=[ImportIssue(line=exc.lineno, reason=f"not valid JSON: {exc.msg}")]
            )
        if not isinstance(data, list):
            return Parsed(
                failed=[ImportIssue(line=1, reason="a .json file must hold an array of items")]
            )
        # The MT-Bench layout records a tie verdict as a null gold; items are numbered from 1.
        return _collect(enumerate(data, start=1), Parsed(mtbench=True), null_gold_is_tie=True)
    if suffix == ".jsonl":
        return _collect(_jsonl_rows(text), Parsed(), null_gold_is_tie=False)
    if suffix == ".csv":
        return _collect(_csv_rows(text), Parsed(), null_gold_is_tie=False)
    return Parsed(
        failed=[
            ImportIssue(
                line=0,
                reason=f"unsupported file type {suffix or '(none)'}; use .json, .jsonl or .csv",
            )
        ]
    )


@dataclass
class MergedPair:
    item: PairwiseItem
    gold: str | None
    lines: list[int]
    conflict: bool


def merge_duplicates(items: list[PairwiseItem]) -> list[MergedPair]:
    """Group rows that repeat a whole pair. Agreeing verdicts keep their gold; disagreeing ones
    leave the pair without gold. A row with no verdict does not disagree."""
    groups: dict[tuple[str, str, str], list[PairwiseItem]] = {}
    for item in items:
        groups.setdefault(item.key, []).append(item)
    merged: list[MergedPair] = []
    for group in groups.values():
        verdicts = {i.gold for i in group if i.gold is not None}
        conflict = len(verdicts) > 1
        merged.append(
            MergedPair(
                item=group[0],
                gold=None if conflict else (verdicts.pop() if verdicts else None),
                lines=[i.line for i in group],
                conflict=conflict,
            )
        )
    return merged


async def import_pairs(
    conn: AsyncConnection,
    parsed: Parsed,
    *,
    source: str,
    dataset: str,
    creator_id: UUID | None = None,
    consensus_threshold: int = 3,
    min_agreement_percentage: float = 70.0,
    allow_tie: bool | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Store the parsed items (the caller commits) and return the report."""
    report = ImportReport(source=source, rows=parsed.rows, failed=list(parsed.failed))
    tie = parsed.mtbench if allow_tie is None else allow_tie
    for pair in merge_duplicates(parsed.items):
        item = pair.item
        if pair.conflict:
            report.notes.append(
                f"lines {', '.join(map(str, pair.lines))} repeat one pair with different verdicts: "
                "the question has no gold answer"
            )
        gold = pair.gold
        if gold == "tie" and not tie:
            gold = None
            report.notes.append(
                f"line {item.line}: gold 'tie' ignored, the tasks do not allow ties"
            )
        metadata: dict[str, Any] = {}
        if item.model_a or item.model_b:
            metadata.update(model_a=item.model_a, model_b=item.model_b)
        if len(pair.lines) > 1:
            metadata["source_lines"] = pair.lines
        try:
            async with conn.transaction():
                question, created = await questions_domain.get_or_create(
                    conn,
                    question_type="pairwise_ab",
                    content={
                        "prompt": item.prompt,
                        "optionA": item.option_a,
                        "optionB": item.option_b,
                    },
                    gold_standard=gold,
                    source_dataset=dataset,
                    source_ref=item.source_ref,
                    metadata=metadata,
                    created_by=creator_id,
                )
                if created:
                    report.questions_created += 1
                else:
                    report.questions_existing += 1
                    if question["gold_standard"] != gold:
                        report.notes.append(
                            f"line {item.line}: the stored question keeps its gold "
                            f"{question['gold_standard']!r}; this file says {gold!r}"
                        )
                if await tasks_domain.task_for_question(conn, question["id"]):
                    report.tasks_existing += 1
                else:
                    title = _title(dataset, item, parsed.mtbench)
                    await tasks_domain.create_task(
                        conn,
                        question_id=question["id"],
                        title=title,
                        creator_id=creator_id,
                        consensus_threshold=consensus_threshold,
                        min_agreement_percentage=min_agreement_percentage,
                        allow_tie=tie,
                    )
                    report.tasks_created += 1
        except InvalidInput as exc:
            report.failed.append(ImportIssue(line=item.line, reason=exc.message))
        if on_progress:
            on_progress(len(pair.lines))
    report.failed.sort(key=lambda issue: issue.line)
    return report


def _title(dataset: str, item: PairwiseItem, mtbench: bool) -> str:
    if mtbench and item.source_ref:
        return f"A/B Preference – MTBench #{item.source_ref}"
    preview = " ".join(item.prompt.split())[:80]
    return f"A/B Preference – {dataset}: {preview}"
