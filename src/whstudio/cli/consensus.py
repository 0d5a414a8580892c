"""`whstudio consensus …`: batch aggregation and consistency checks."""

from __future__ import annotations

from typing import Annotated

import typer

from whstudio.cli.common import (
    database_url,
    ensure_schema,
    err,
    fail,
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
) -> None:
    """Aggregate every pairwise task in batch and store the results beside the real-time ones."""
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
                conn, chosen, store=not dry_run, on_step=lambda _: progress.advance(bar)
            )

    run = transact(url, work)
    out.print(
        f"{run.labels} answers from {run.workers} annotators on {run.tasks} pairwise tasks"
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
