"""Stage three of an import: store checked items, with the answers recorded with them.

Each item is a question, its task and its answers, written in a savepoint inside the caller's
transaction; the report counts what was created and what was already there, so a second import of
the same file creates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection

from whstudio.db import bulk
from whstudio.db import queries as q
from whstudio.db.errors import domain_error
from whstudio.domain import distribution
from whstudio.domain import questions as questions_domain
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.importing.validate import LAYOUTS, Checked, Item, Layout
from whstudio.errors import InvalidInput, WhError
from whstudio.schemas import ImportIssue, ImportReport


class ItemsReport(ImportReport):
    """The report of every import, whatever its source."""

    layout: str = "items"
    users_created: int = 0
    rules_changed: int = 0  # tasks already there whose rule the import changed
    responses_created: int = 0
    responses_existing: int = 0


class ImportRefused(WhError):
    """A strict import found bad rows: nothing was stored; the report lists them."""

    status = 422
    code = "invalid"

    def __init__(self, report: ImportReport) -> None:
        first = report.failed[0] if report.failed else None
        message = f"{len(report.failed)} bad row(s); nothing was imported" + (
            f" (row {first.line}: {first.reason})" if first else ""
        )
        super().__init__(message, field="file")
        self.report = report


def report_of(checked: Checked, source: str) -> ItemsReport:
    """Return the report of checked items before anything is stored."""
    return ItemsReport(
        source=source,
        rows=checked.rows,
        failed=list(checked.failed),
        skipped=list(checked.skipped),
        layout=checked.layout,
    )


async def import_account(
    conn: AsyncConnection, username: str, display_name: str, kind: str, groups: list[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The account an import records answers under: made where missing (inactive, no password,
    of `kind` and in `groups`), or the existing one of that name. Returns (account, None), or
    (None, why) for a name that is an account people sign in with (active, or staff), which a
    file never takes over. An existing account keeps its kind: `account["kind"]` says which."""
    row = await q.fetch_one(
        conn,
        "import_items.ensure_judge",
        {"username": username, "display_name": display_name, "kind": kind, "groups": groups},
    )
    assert row is not None
    if not row["created"] and (row["is_active"] or row["role"] != "annotator"):
        return None, f"{username!r} is an account people sign in with"
    return row, None


async def _judge_ids(conn: AsyncConnection, checked: Checked, report: ItemsReport) -> dict:
    """The account of every judge whose answers come with the file, made where missing, with its
    kind and the groups the file gives it."""
    judges: dict[str, tuple[str, set[str]]] = {}
    for item in checked.items:
        for answer in item.answers:
            kind, groups = judges.setdefault(answer.judge, (answer.judge_kind, set()))
            groups.update(answer.judge_groups)
    ids: dict[str, UUID] = {}
    for name, (kind, groups) in sorted(judges.items()):
        display = f"Imported {'model judge' if kind == 'model' else 'judge'} {name}"
        row, refused = await import_account(conn, name, display, kind, sorted(groups))
        if row is None:
            raise InvalidInput(
                f"judge account {refused}; import with another --judge-prefix",
                field="judge_prefix",
            )
        if row["kind"] != kind:
            report.notes.append(f"judge {name!r} is a {row['kind']} account: kept as that")
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
    consensus_threshold: int | None = None,
    min_agreement_percentage: float | None = None,
    allow_tie: bool | None = None,
    count_model_votes: bool | None = None,
    gold_rate: float | None = None,
    strict: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> ItemsReport:
    """Store the checked items in the caller's transaction and return the report.

    The rule (threshold, least agreement, ties, whether model judges' answers count) is the
    tasks' own: new tasks take what is given, else 3 answers, 70%, the layout's tie rule and
    people's answers only; what is given is also applied to the file's tasks that were already
    there, before its answers go in (each task's consensus recomputed in the same transaction).
    gold_rate: how often `next` serves the dataset's gold checks from now on.
    strict: refuse the whole file (raise ImportRefused, nothing written) if any row is bad or
    any item fails to store; otherwise store the good items and list the bad rows.
    """
    if gold_rate is not None and not 0 <= gold_rate <= 1:
        raise InvalidInput("gold_rate must be between 0 and 1", field="gold_rate")
    report = report_of(checked, source)
    if strict and report.failed:
        raise ImportRefused(report)
    layout = LAYOUTS[checked.layout]
    said = {
        "consensus_threshold": consensus_threshold,
        "min_agreement_percentage": min_agreement_percentage,
        "allow_tie": allow_tie,
        "count_model_votes": count_model_votes,
    }
    given = {k: v for k, v in said.items() if v is not None}  # the rule options said
    rule = (
        3 if consensus_threshold is None else consensus_threshold,
        70.0 if min_agreement_percentage is None else min_agreement_percentage,
        layout.allow_tie if allow_tie is None else allow_tie,
        bool(count_model_votes),
    )
    judges = await _judge_ids(conn, checked, report)
    counts = ("questions_created", "questions_existing", "tasks_created", "tasks_existing")
    counts += ("responses_created", "responses_existing", "rules_changed")
    # The file's answers were given elsewhere, by judges who saw nothing of this app: none is
    # "informed" (submit_answer_v1); a judge's second vote revises the first, as it did there.
    await q.execute(conn, "import_items.answers_from_file", {"on": "on"})
    try:
        async with bulk.counts_later(conn):  # the file's new tasks counted once, at the end
            for item in checked.items:
                before = {name: getattr(report, name) for name in counts}
                try:
                    async with conn.transaction():
                        await _store_item(
                            conn,
                            await _oriented(conn, item),
                            report,
                            layout=layout,
                            judges=judges,
                            dataset=dataset,
                            creator_id=creator_id,
                            rule=rule,
                            given=given,
                        )
                except WhError as exc:
                    for name, value in before.items():  # the item was undone: so are its counts
                        setattr(report, name, value)
                    report.failed.append(ImportIssue(line=item.lines[0], reason=exc.message))
                    if strict:
                        raise ImportRefused(report) from exc
                if on_progress:
                    on_progress(len(item.lines))
    finally:
        await q.execute(conn, "import_items.answers_from_file", {"on": "off"})
    await bulk.analyze_grown(
        conn,
        {
            "questions": report.questions_created,
            "tasks": report.tasks_created,
            "response_consensus": report.tasks_created,
            "submissions": report.responses_created,
            "response_quality_metrics": report.responses_created,
        },
    )
    if gold_rate is not None:
        await distribution.set_gold_rate(conn, dataset, gold_rate)
        report.notes.append(f"dataset {dataset}: gold checks served at rate {gold_rate}")
    report.failed.sort(key=lambda issue: issue.line)
    return report


def _gold(item: Item, report: ItemsReport, layout: Layout, tie: bool) -> Any:
    """The gold to store, noting (or refusing, see Layout.gold_notes) what cannot be kept."""
    if item.disputed:
        report.notes.append(
            f"lines {', '.join(map(str, item.lines))} repeat one pair with different verdicts: "
            "the question has no gold answer"
        )
    if item.gold == "tie" and not tie:
        if not layout.gold_notes:
            raise InvalidInput("gold 'tie' but the tasks do not allow ties (use --allow-tie)")
        report.notes.append(
            f"line {item.lines[0]}: gold 'tie' ignored, the tasks do not allow ties"
        )
        return None
    return item.gold


async def _oriented(conn, item: Item) -> Item:
    """The item with its sides as the task already made for it has them: a pair stored as
    (gpt-4, claude) stays so when another file names it (claude, gpt-4) first. A new item keeps
    the sides its rows give."""
    if item.source_key is None or item.question_type != "pairwise_ab":
        return item
    turned = item.flipped()
    for candidate in (item, turned):
        question = await questions_domain.find(conn, candidate.question_type, candidate.content)
        if question is not None and await tasks_domain.task_for_item(
            conn, question["id"], candidate.source_key, candidate.metadata
        ):
            return candidate
    return item


async def _store_item(
    conn, item: Item, report: ItemsReport, *, layout, judges, dataset, creator_id, rule, given
) -> None:
    """Store one item (question, task, answers). A task already there first takes the rule
    given (`given`, the options said), so its answers go in under it."""
    threshold, min_agreement, tie, count_model_votes = rule
    gold = _gold(item, report, layout, tie)
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
    if not created and layout.gold_notes and question["gold_standard"] != gold:
        report.notes.append(
            f"line {item.lines[0]}: the stored question keeps its gold "
            f"{question['gold_standard']!r}; this file says {gold!r}"
        )
    task_id = await tasks_domain.task_for_item(conn, question["id"], item.source_key, item.metadata)
    if task_id is None:
        preview = " ".join(item.content["prompt"].split())[:80]
        task = await tasks_domain.create_task(
            conn,
            question_id=question["id"],
            title=item.title or f"{layout.title or item.question_type} – {dataset}: {preview}",
            creator_id=creator_id,
            consensus_threshold=threshold,
            min_agreement_percentage=min_agreement,
            allow_tie=tie,
            count_model_votes=count_model_votes,
            source_key=item.source_key,
            metadata=item.metadata if item.source_key is not None else None,
        )
        task_id = task["id"]
        report.tasks_created += 1
    else:
        report.tasks_existing += 1
        if given:
            changed = await tasks_domain.change_rules(conn, {"task_ids": [task_id]}, given)
            report.rules_changed += changed["changed"]
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
        if answer.source_label is not None and not replayed:
            await q.execute(
                conn,
                "import_items.label_answer",
                {"id": row["result"]["submission_id"], "source_label": answer.source_label},
            )
        report.responses_existing += int(replayed)
        report.responses_created += int(not replayed)


def report_json(report: ItemsReport) -> str:
    """Return the report as JSON text (for scripts)."""
    return report.model_dump_json(indent=2)
