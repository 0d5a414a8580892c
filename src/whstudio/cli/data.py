"""`whstudio import`, `import-items`, `export` and `rankings`: data entering and leaving the
platform."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from whstudio.cli.common import (
    database_url,
    ensure_schema,
    err,
    fail,
    import_file,
    load_settings,
    out,
    print_import_report,
    progress_bar,
    transact,
)
from whstudio.errors import InvalidInput

# The rule every import gives its tasks (import and import-items alike): new tasks take it (else
# the defaults), and the file's tasks already there are changed to what is given.
ImportDataset = Annotated[str | None, typer.Option(help="Dataset name (default: from the file).")]
ImportThreshold = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=10000,
        help="Answers each task needs (default 3 for new tasks; given, also set on the file's "
        "tasks already there).",
    ),
]
ImportAgreement = Annotated[
    float | None,
    typer.Option(
        min=0.01,
        max=100,
        help="Agreement % for consensus (default 70 for new tasks; given, also set on the "
        "file's tasks already there).",
    ),
]

KeepIdentical = Annotated[
    bool,
    typer.Option(
        "--keep-identical",
        help="Keep pairs whose two answers are the same text (else listed and left out).",
    ),
]

_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def import_(
    file: Annotated[Path, typer.Argument(help=".json (MT-Bench layout), .jsonl or .csv file.")],
    dataset: ImportDataset = None,
    threshold: ImportThreshold = None,
    min_agreement: ImportAgreement = None,
    allow_tie: Annotated[
        bool | None,
        typer.Option("--allow-tie/--no-allow-tie", help="Whether answers may be a tie."),
    ] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Record this user as creator.")
    ] = None,
    keep_identical: KeepIdentical = False,
) -> None:
    """Import pairwise items; malformed lines are listed and the exit code is 1 if any failed."""
    if not file.is_file():
        fail(f"no such file: {file}")
    url = database_url(load_settings())
    ensure_schema(url)
    report = import_file(
        url,
        file,
        dataset=dataset,
        threshold=threshold,
        min_agreement=min_agreement,
        allow_tie=allow_tie,
        as_user=as_user,
        keep_identical=keep_identical,
    )
    print_import_report(report)
    if report.failed:
        raise typer.Exit(1)


def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="jsonl or parquet (default: from the file name)."),
    ] = None,
    what: Annotated[
        str,
        typer.Option(
            help="preferences (chosen/rejected pairs as text), conversations (the same pairs in "
            "TRL's conversational format: messages, with the turn), responses (raw) or quality."
        ),
    ] = "preferences",
    dataset: Annotated[str | None, typer.Option(help="Only this source dataset.")] = None,
    min_agreement: Annotated[
        float, typer.Option(min=0, max=100, help="Preferences: least agreement %.")
    ] = 0.0,
    min_answers: Annotated[
        int, typer.Option(min=0, help="Preferences: least number of answers.")
    ] = 0,
    since: Annotated[
        datetime | None,
        typer.Option(formats=_DATE_FORMATS, help="From this time (UTC), inclusive."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=_DATE_FORMATS, help="Up to this time (UTC), exclusive."),
    ] = None,
    include_ties: Annotated[
        bool, typer.Option(help="Preferences: add tasks settled on 'tie' (tie=true rows).")
    ] = False,
    method: Annotated[
        str,
        typer.Option(help="Preferences: majority (real-time), weighted or dawid-skene (batch)."),
    ] = "majority",
    latest_only: Annotated[
        bool, typer.Option(help="Responses: only each annotator's latest answer.")
    ] = False,
    reveal_annotators: Annotated[
        bool, typer.Option(help="Responses/quality: real user ids and names, not hashes.")
    ] = False,
    salt: Annotated[
        str | None,
        typer.Option(help="Salt of the annotator hashes (default: derived from the secret key)."),
    ] = None,
) -> None:
    """Export consensus-labelled preference pairs, raw responses or annotator quality."""
    from whstudio.domain import export as export_domain

    chosen_format = fmt or output.suffix.lstrip(".").lower()
    if chosen_format not in export_domain.FORMATS:
        fail("format: use --format jsonl or parquet (or a .jsonl / .parquet file name)")
    if what not in export_domain.KINDS:
        fail(f"what: use one of {', '.join(export_domain.KINDS)}")
    settings = load_settings()
    if what in ("preferences", "conversations"):
        params_source = export_domain.PreferenceFilters(
            dataset=dataset,
            min_agreement=min_agreement,
            min_answers=min_answers,
            since=_utc(since),
            until=_utc(until),
            include_ties=include_ties,
            method=method.replace("-", "_"),
        )
    else:
        params_source = export_domain.RawFilters(
            salt=salt or export_domain.default_salt(settings.resolved_secret_key()),
            dataset=dataset,
            since=_utc(since),
            until=_utc(until),
            latest_only=latest_only,
            reveal=reveal_annotators,
        )
    try:
        params = params_source.params()
    except InvalidInput as exc:
        fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    if not output.parent.is_dir():
        fail(f"output: no such folder {output.parent}")
    url = database_url(settings)
    ensure_schema(url)
    partial = output.with_name(output.name + ".partial")

    async def work(conn):
        with partial.open("wb") as handle:
            rows = await export_domain.write(conn, what, params, chosen_format, handle)
        pairs = what in ("preferences", "conversations")
        return rows, (await export_domain.left_out(conn, params) if pairs else {})

    try:
        rows, skipped = transact(url, work)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"output: cannot write {output}: {exc.strerror or exc}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(output)
    out.print(f"wrote {rows} {what} rows to {output} ({chosen_format})", highlight=False)
    if skipped:
        out.print(
            f"left out {sum(skipped.values())} pairwise tasks: "
            f"{export_domain.left_out_text(skipped)}",
            highlight=False,
        )


def rankings(
    dataset: Annotated[str | None, typer.Option(help="Only this source dataset.")] = None,
    basis: Annotated[
        str, typer.Option(help="answers (every latest answer) or consensus (one per task).")
    ] = "answers",
    rounds: Annotated[
        int, typer.Option(min=10, max=2000, help="Bootstrap resamples for the 95% intervals.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Random seed of the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document.")] = False,
) -> None:
    """Rank the models named in pairwise questions (Bradley–Terry, ties as half, 95% CIs)."""
    from rich.table import Table

    from whstudio.domain import rankings as rankings_domain

    url = database_url(load_settings())
    ensure_schema(url)
    doc = transact(
        url,
        lambda c: rankings_domain.model_rankings(
            c, dataset=dataset, basis=basis, rounds=rounds, seed=seed
        ),
    )
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    if not doc["models"]:
        err.print("no pairwise outcomes between named models", highlight=False)
        raise typer.Exit(1)
    table = Table("rank", "model", "rating", "95% CI", "rank CI", "W-L-T", box=None)
    for m in doc["models"]:
        table.add_row(
            str(m["rank"]),
            m["model"],
            f"{m['rating']:.0f}",
            f"{m['ci_lower']:.0f}–{m['ci_upper']:.0f}",
            f"{m['rank_ci'][0]}–{m['rank_ci'][1]}",
            f"{m['wins']}-{m['losses']}-{m['ties']}",
        )
    out.print(table)
    out.print(
        f"{doc['comparisons']} comparisons ({doc['basis']}), Bradley–Terry with ties as half, "
        f"{doc['bootstrap_rounds']} bootstrap rounds",
        highlight=False,
    )


def import_items(
    file: Annotated[Path, typer.Argument(help=".jsonl, .json, .csv or .parquet file.")],
    question_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="pairwise_ab, ranking, text_generation or voice_transcription "
            "(default: MT-Bench judgments if the file has their columns, else pairwise_ab).",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="FIELD=COLUMN, e.g. prompt=question; repeat for more."),
    ] = None,
    dataset: ImportDataset = None,
    threshold: ImportThreshold = None,
    min_agreement: ImportAgreement = None,
    allow_tie: Annotated[
        bool | None,
        typer.Option("--allow-tie/--no-allow-tie", help="Whether pairwise answers may be a tie."),
    ] = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Validate and report; store nothing.")
    ] = False,
    skip_bad: Annotated[
        bool, typer.Option(help="Store the good rows even if some are bad (default: refuse all).")
    ] = False,
    judge_prefix: Annotated[
        str, typer.Option(help="MT-Bench judgments: prefix of the judges' account names.")
    ] = "mtbench.",
    judge_kind: Annotated[
        str,
        typer.Option(
            help="MT-Bench judgments: auto, person or model. auto: a judge named like expert_12 "
            "is a person in group expert, any other (gpt4_pair) a model judge."
        ),
    ] = "auto",
    count_model_votes: Annotated[
        bool | None,
        typer.Option(
            "--count-model-votes/--no-count-model-votes",
            help="Whether the tasks count model judges' answers in consensus as people's "
            "(default for new tasks: kept and compared, not counted).",
        ),
    ] = None,
    gold_rate: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Share of `next` calls serving the dataset's gold first."),
    ] = None,
    keep_identical: KeepIdentical = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import items of any type with a column mapping, or MT-Bench judgments with their answers.

    The file is checked first; bad rows are listed with their reasons, and unless --skip-bad is
    given a file with any bad row stores nothing. Exit code 1 when any row was bad.
    """
    from whstudio.domain import importing as items_domain

    if not file.is_file():
        fail(f"no such file: {file}")
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc}")
    try:
        checked = items_domain.check_file(
            data,
            file.name,
            question_type=question_type or None,
            mapping=mapping or [],
            judge_prefix=judge_prefix,
            judge_kind=judge_kind,
            keep_identical=keep_identical,
        )
    except InvalidInput as exc:
        fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    name = items_domain.dataset_name(checked, file.name, dataset)
    if check_only or (checked.failed and not skip_bad):
        # The report first: a file with bad rows is refused before the database is touched.
        report = items_domain.report_of(checked, str(file))
        _print_items_report(report, as_json, checked=checked)
        raise typer.Exit(1 if report.failed else 0)
    url = database_url(load_settings())
    ensure_schema(url)
    report = transact(
        url,
        lambda c: items_domain.store(
            c,
            checked,
            source=str(file),
            dataset=name,
            consensus_threshold=threshold,
            min_agreement_percentage=min_agreement,
            allow_tie=allow_tie,
            count_model_votes=count_model_votes,
            gold_rate=gold_rate,
            strict=not skip_bad,
        ),
    )
    _print_items_report(report, as_json)
    if report.failed:
        raise typer.Exit(1)


def _print_items_report(report, as_json: bool, *, checked=None) -> None:
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    if checked is not None:
        answers = sum(len(i.answers) for i in checked.items)
        out.print(
            f"{report.source}: {report.rows} rows ({report.layout}); {len(checked.items)} "
            f"distinct items, {answers} recorded answers; {len(report.failed)} bad rows; "
            "nothing stored (--check)",
            highlight=False,
        )
    else:
        out.print(
            f"{report.source}: {report.rows} rows ({report.layout}); questions "
            f"{report.questions_created} new, {report.questions_existing} already there; tasks "
            f"{report.tasks_created} new, {report.tasks_existing} already there; answers "
            f"{report.responses_created} new, {report.responses_existing} already there; "
            f"judges {report.users_created} new; {len(report.failed)} bad rows"
            + (f"; rule changed on {report.rules_changed} tasks" if report.rules_changed else ""),
            highlight=False,
        )
        for note in report.notes:
            out.print(f"  note: {note}", highlight=False)
    for issue in report.failed:
        err.print(f"  row {issue.line}: {issue.reason}", highlight=False)
    for issue in report.skipped:
        out.print(f"  left out, row {issue.line}: {issue.reason}", highlight=False)


def import_answers(
    file: Annotated[Path, typer.Argument(help=".jsonl, .json, .csv or .parquet file.")],
    dataset: Annotated[
        str | None, typer.Option(help="The dataset the rows' item ids are in.")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="FIELD=COLUMN, e.g. annotator=worker_id; repeat for more."),
    ] = None,
    labels: Annotated[
        list[str] | None,
        typer.Option(help="LABEL=A, LABEL=B or LABEL=tie: how the file's pairwise labels read."),
    ] = None,
    annotator_prefix: Annotated[
        str, typer.Option(help="Prefix of the new annotators' account names.")
    ] = "",
    annotator_kind: Annotated[
        str, typer.Option(help="person, or model: the annotators are model judges.")
    ] = "person",
    group: Annotated[
        list[str] | None, typer.Option(help="A group of the new annotators; repeatable.")
    ] = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Validate and report; store nothing.")
    ] = False,
    skip_bad: Annotated[
        bool, typer.Option(help="Store the good rows even if some are bad (default: refuse all).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import existing answers to tasks already here: rows of item (task_id, or the item's id in
    --dataset), annotator and answer, with time, confidence and created_at where known (the
    task/worker/label CSV of crowd-kit reads as it is). Checked first; stored in the order given,
    as answers submitted one by one; importing the same file again adds nothing."""
    from whstudio.domain.importing import answers as answers_domain

    if not file.is_file():
        fail(f"no such file: {file}")
    try:
        checked = answers_domain.check_answers_file(file.read_bytes(), file.name, mapping or [])
        label_map = answers_domain.parse_labels(labels or [])
    except OSError as exc:
        fail(f"cannot read {file}: {exc}")
    except InvalidInput as exc:
        fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    if check_only or (checked.failed and not skip_bad):
        report = answers_domain.answers_report(checked, str(file))
        _print_answers_report(report, as_json, checked=len(checked.answers))
        raise typer.Exit(1 if report.failed else 0)
    url = database_url(load_settings())
    ensure_schema(url)

    refused: list = []

    async def work(conn):
        with progress_bar() as progress:
            bar = progress.add_task(f"importing {file.name}", total=len(checked.answers))
            try:
                return await answers_domain.store_answers(
                    conn,
                    checked,
                    source=str(file),
                    dataset=dataset,
                    labels=label_map,
                    annotator_prefix=annotator_prefix,
                    annotator_kind=annotator_kind,
                    groups=group or [],
                    strict=not skip_bad,
                    on_progress=lambda n: progress.advance(bar, n),
                )
            except answers_domain.AnswersRefused as exc:
                refused.append(exc.report)
                raise  # the transaction rolls back: all or nothing

    try:
        report = transact(url, work)
    except typer.Exit:
        for report in refused:
            _print_answers_report(report, as_json)
        raise
    _print_answers_report(report, as_json)
    if report.failed:
        raise typer.Exit(1)


def _print_answers_report(report, as_json: bool, *, checked: int | None = None) -> None:
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    elif checked is not None:
        out.print(
            f"{report.source}: {report.rows} rows; {checked} answers readable; "
            f"{len(report.failed)} bad rows; nothing stored",
            highlight=False,
        )
    else:
        out.print(
            f"{report.source}: {report.rows} rows; answers {report.answers_created} new, "
            f"{report.answers_existing} already there; annotators {report.annotators_created} "
            f"new; {len(report.failed)} bad rows"
            + ("; nothing stored" if report.failed and not report.answers_created else ""),
            highlight=False,
        )
    if not as_json:
        for note in report.notes:
            out.print(f"  note: {note}", highlight=False)
        for issue in report.failed:
            err.print(f"  row {issue.line}: {issue.reason}", highlight=False)
