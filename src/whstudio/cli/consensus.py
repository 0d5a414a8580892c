"""`whstudio consensus …`: batch aggregation and consistency checks."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from whstudio.cli.common import (
    database_url,
    ensure_schema,
    err,
    fail,
    fail_invalid,
    load_settings,
    out,
    progress_bar,
    transact,
)

app = typer.Typer(help="Batch aggregation and consistency checks.", no_args_is_help=True)


@app.command("recompute")
def consensus_recompute(
    method: Annotated[
        list[str] | None,
        typer.Option(help="majority, weighted or dawid-skene; repeat for several (default: all)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Compute and report without storing.")] = False,
    dataset: Annotated[
        str | None,
        typer.Option(help="Only this dataset's tasks (annotators' skill is then left as it is)."),
    ] = None,
) -> None:
    """Aggregate every pairwise task (or one dataset's) in batch and store the results beside the
    real-time ones."""
    from whstudio.domain import batch

    chosen = tuple(m.replace("-", "_") for m in (method or ["majority", "weighted", "dawid-skene"]))
    unknown = [m for m in chosen if m not in batch.METHODS]
    if unknown:
        fail(f"method: unknown {', '.join(unknown)}; use majority, weighted or dawid-skene")
    url = database_url(load_settings())
    ensure_schema(url)

    async def work(conn):
        with progress_bar() as progress:
            bar = progress.add_task("aggregating", total=len(chosen) + 1)
            return await batch.recompute(
                conn,
                chosen,
                store=not dry_run,
                on_step=lambda _: progress.advance(bar),
                dataset=dataset,
            )

    run = transact(url, work)
    out.print(
        f"{run.labels} answers from {run.workers} annotators on {run.tasks} pairwise tasks"
        f"{f' of {dataset}' if dataset else ''}"
        f" (run {run.run_id}{', not stored' if dry_run else ''})",
        highlight=False,
    )
    for step, seconds in run.seconds.items():
        out.print(f"  {step}: {seconds:.3f} s", highlight=False)
    if run.iterations:
        out.print(f"  Dawid-Skene converged in {run.iterations} iterations", highlight=False)
    out.print("winners that differ:", highlight=False)
    for pair, share in run.disagreement.items():
        out.print(f"  {pair}: {share * 100:.2f}% of tasks", highlight=False)


@app.command("verify")
def consensus_verify(
    repair: Annotated[bool, typer.Option(help="Rebuild every task that differs.")] = False,
) -> None:
    """Compare every stored consensus with a recomputation from scratch; exit 1 on a difference."""
    from whstudio.domain import consensus

    url = database_url(load_settings())
    ensure_schema(url)

    async def work(conn):
        drifted = await consensus.drifted(conn)
        if repair:
            for task_id in drifted:
                await consensus.rebuild(conn, task_id)
        return drifted, await consensus.counts_drifted(conn)

    drifted, wrong_counts = transact(url, work)
    if wrong_counts:
        err.print(
            f"{wrong_counts} dashboard total(s) differ from a count of the tasks", highlight=False
        )
    if not drifted:
        out.print("every task's consensus equals its recomputation")
        if wrong_counts:
            raise typer.Exit(1)
        return
    for task_id in drifted[:50]:
        err.print(f"  differs: {task_id}", highlight=False)
    err.print(f"{len(drifted)} task(s) differ{'; rebuilt' if repair else ''}", highlight=False)
    if not repair:
        raise typer.Exit(1)


def _metadata_filter(pairs: list[str]) -> dict[str, Any]:
    """FIELD=VALUE pairs; a value that reads as JSON (1, true, 2.5) is taken as such."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            fail(f"where: {pair!r} must read FIELD=VALUE", 2)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list | dict) or value is None:
            value = raw
        found[name.strip()] = value
    return found


@app.command("rules")
def consensus_rules(
    dataset: Annotated[str | None, typer.Option(help="Tasks of this dataset.")] = None,
    question_type: Annotated[
        str | None, typer.Option("--type", help="Tasks of this question type.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Tasks in this status.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="Item metadata FIELD=VALUE that must match (e.g. turn=1); repeatable."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every task (needed when no filter is given).")
    ] = False,
    threshold: Annotated[
        int | None, typer.Option(min=1, max=10000, help="Answers each task needs.")
    ] = None,
    min_agreement: Annotated[
        float | None, typer.Option(min=0.01, max=100, help="Least agreement % for consensus.")
    ] = None,
    allow_tie: Annotated[
        bool | None, typer.Option("--allow-tie/--no-allow-tie", help="Whether ties are allowed.")
    ] = None,
    count_model_votes: Annotated[
        bool | None,
        typer.Option(
            "--count-model-votes/--no-count-model-votes",
            help="Whether model judges' answers count in consensus.",
        ),
    ] = None,
    priority: Annotated[int | None, typer.Option(min=1, max=5, help="Priority 1–5.")] = None,
) -> None:
    """Change the consensus rule of every task a filter picks, in one transaction; each changed
    task's consensus is recomputed with it."""
    from pydantic import ValidationError

    from whstudio.domain import tasks
    from whstudio.schemas import BulkRuleChange

    try:
        body = BulkRuleChange.model_validate(
            {
                "filter": {
                    "dataset": dataset,
                    "question_type": question_type,
                    "status": status,
                    "metadata": _metadata_filter(where) if where else None,
                    "all": every,
                },
                "consensus_threshold": threshold,
                "min_agreement_percentage": min_agreement,
                "allow_tie": allow_tie,
                "count_model_votes": count_model_votes,
                "priority": priority,
            }
        )
    except ValidationError as exc:
        fail_invalid(exc, 2)
    url = database_url(load_settings())
    ensure_schema(url)
    changes = body.model_dump(exclude={"filter"}, exclude_none=True)
    done = transact(url, lambda c: tasks.change_rules(c, body.filter.model_dump(), changes))
    out.print(
        f"{done['matched']} tasks matched, {done['changed']} changed "
        f"({', '.join(f'{k} {v}' for k, v in done['rule'].items())}); consensus reached: "
        f"{done['consensus_reached_before']} before, {done['consensus_reached_after']} after",
        highlight=False,
    )
