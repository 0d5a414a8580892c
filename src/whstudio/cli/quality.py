"""`whstudio quality …`: reputation, agreement, the refresh, and gold-check rates per dataset."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from whstudio.cli.common import database_url, ensure_schema, fail, load_settings, out, transact
from whstudio.errors import WhError

app = typer.Typer(
    help="Annotator quality: reputation, agreement, refresh, gold rates.", no_args_is_help=True
)


@app.command("refresh")
def quality_refresh(
    dawid_skene: Annotated[
        bool, typer.Option(help="Re-estimate every annotator's skill with Dawid–Skene.")
    ] = True,
    reweight: Annotated[
        bool,
        typer.Option(help="Give every latest answer its annotator's current weight."),
    ] = False,
) -> None:
    """Judge every answer again, re-estimate skill, and update every reputation."""
    from whstudio.domain import quality

    url = database_url(load_settings())
    ensure_schema(url)
    done = transact(url, lambda conn: quality.refresh(conn, dawid_skene=dawid_skene))
    if reweight:
        done.reweighted = transact(url, quality.reweight)
    out.print(f"answers judged anew: {done.rejudged}", highlight=False)
    out.print(f"counters out of step before: {done.drift_before}", highlight=False)
    if dawid_skene:
        out.print(f"Dawid–Skene skill for {done.dawid_skene_workers} annotators", highlight=False)
    if reweight:
        out.print(f"answers reweighted: {done.reweighted}", highlight=False)


@app.command("leaderboard")
def quality_leaderboard(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many rows.")] = 50,
) -> None:
    """Annotators by reputation, with what it rests on and their flags."""
    from whstudio.domain import quality

    url = database_url(load_settings())
    ensure_schema(url)
    rows = transact(url, lambda conn: quality.leaderboard(conn, limit=limit, staff=True))
    table = Table("#", "annotator", "score", "weight", "answers", "gold", "agreement", "flags")
    for row in rows:
        gold = row["gold_accuracy"]
        table.add_row(
            str(row["rank"]),
            row["username"],
            str(row["score"]),
            f"{row['weight']:.2f}",
            str(row["answers"]),
            f"{gold['successes']}/{gold['trials']}",
            "—" if row["agreement_rate"] is None else f"{row['agreement_rate'] * 100:.1f}%",
            ", ".join(row["flags"]),
        )
    out.print(table)


@app.command("show")
def quality_show(
    username: Annotated[str, typer.Argument(help="Whose reputation.")],
    history: Annotated[int, typer.Option(min=0, max=1000, help="Events to list.")] = 20,
) -> None:
    """One annotator's reputation, its basis, flags, and what moved it."""
    from whstudio.domain import quality

    url = database_url(load_settings())
    ensure_schema(url)

    async def work(conn):
        return await quality.reputation(
            conn, await quality.resolve_user(conn, username), history=history, staff=True
        )

    rep = transact(url, work)
    gold, agreement = rep["gold"], rep["agreement"]
    low, high = rep["accuracy"]["interval_95"]
    out.print(
        f"{rep['username']}: score {rep['score']}, weight {rep['weight']:.3f}, "
        f"accuracy {rep['accuracy']['estimate']:.3f} ({low:.3f}–{high:.3f}, "
        f"{rep['accuracy']['basis']})",
        highlight=False,
    )
    out.print(
        f"gold {gold['successes']}/{gold['trials']} → {gold['estimate']:.3f} "
        f"({gold['interval_95'][0]:.3f}–{gold['interval_95'][1]:.3f}); agreement "
        f"{agreement['successes']}/{agreement['trials']}; answers {rep['answers']}; "
        f"flags: {', '.join(rep['flags']) or 'none'}",
        highlight=False,
    )
    for event in rep["history"]:
        out.print(
            f"  {event['created_at']:%Y-%m-%d %H:%M:%S}  {event['delta']:+5d} → "
            f"{event['score']:4d}  {event['reason']}",
            highlight=False,
        )


@app.command("agreement")
def quality_agreement(
    dataset: Annotated[str | None, typer.Option(help="Only this source dataset.")] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Vote pairs per slice: dataset, model_pair or a metadata field (turn)."),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(help="Vote pairs within a group (expert, author...) or kind (person, model)."),
    ] = None,
    versus: Annotated[
        str | None, typer.Option(help="Vote pairs between --group and this second group.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Krippendorff's alpha, Fleiss' kappa and the share of agreeing vote pairs (with ties and
    without, as the MT-Bench paper reports it), overall, per slice, within or between groups."""
    from whstudio.domain import agreement

    try:
        agreement.check_vote_pair_options(by, group, versus)
    except WhError as exc:
        fail(f"{exc.field}: {exc.message}", 2)
    url = database_url(load_settings())
    ensure_schema(url)

    async def both(conn):
        classic = await agreement.compute(conn, dataset=dataset)
        pairs = await agreement.vote_pairs(conn, dataset=dataset, by=by, group=group, versus=versus)
        return classic, pairs

    figures, pairs = transact(url, both)
    if as_json:
        classic = {k: v for k, v in figures.items() if k not in ("pairwise", "task_ids")}
        sys.stdout.write(json.dumps({**classic, "vote_pairs": pairs}, indent=2) + "\n")
        return
    out.print(
        f"items {figures['items']} (with ≥2 answers), answers {figures['answers']}, "
        f"annotators {figures['annotators']}",
        highlight=False,
    )
    out.print(f"Krippendorff's alpha: {figures['krippendorff_alpha']}", highlight=False)
    out.print(f"Fleiss' kappa: {figures['fleiss_kappa']}", highlight=False)
    out.print(f"annotator pairs with shared items: {figures['pairs_total']}", highlight=False)
    who = group or "everyone"
    out.print(f"vote pairs agreeing ({who}{f' vs {versus}' if versus else ''}):", highlight=False)
    table = Table(
        by or "", "with ties", "pairs", "without ties", "pairs", "alpha", "kappa", box=None
    )
    for label, part in [("all", pairs["overall"])] + [
        (str(s["value"]), s) for s in pairs["slices"]
    ]:
        table.add_row(
            label,
            _percent(part["with_ties"]["agreement"]),
            str(part["with_ties"]["pairs"]),
            _percent(part["without_ties"]["agreement"]),
            str(part["without_ties"]["pairs"]),
            "—" if part["krippendorff_alpha"] is None else f"{part['krippendorff_alpha']:.3f}",
            "—" if part["fleiss_kappa"] is None else f"{part['fleiss_kappa']:.3f}",
        )
    out.print(table)


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


@app.command("gold-rate")
def quality_gold_rate(
    dataset: Annotated[str, typer.Argument(help="Source dataset.")],
    rate: Annotated[
        str, typer.Argument(help="Share of `next` calls serving a gold check first, or 'clear'.")
    ],
) -> None:
    """Set how often `next` serves this dataset's gold checks."""
    from whstudio.domain import distribution

    value: float | None = None
    if rate != "clear":
        try:
            value = float(rate)
        except ValueError:
            fail("rate: a number between 0 and 1, or 'clear'", 2)
        if not 0 <= value <= 1:
            fail("rate: a number between 0 and 1, or 'clear'", 2)
    if not 1 <= len(dataset) <= 200:
        fail("dataset: 1 to 200 characters", 2)
    url = database_url(load_settings())
    ensure_schema(url)
    transact(url, lambda conn: distribution.set_gold_rate(conn, dataset, value))
    out.print(f"{dataset}: gold rate {'default' if value is None else value}", highlight=False)


@app.command("policy")
def quality_policy(
    dataset: Annotated[str, typer.Argument(help="Source dataset.")],
    reveal: Annotated[
        str | None,
        typer.Option(
            help="When annotators who answered a task see others' answers: never, "
            "after_answer (the default) or after_close."
        ),
    ] = None,
    gold_feedback: Annotated[
        bool | None,
        typer.Option(
            "--gold-feedback/--no-gold-feedback",
            help="Whether annotators see which of their answers were gold checks.",
        ),
    ] = None,
) -> None:
    """Show or set what a dataset's annotators may see: others' answers and gold verdicts."""
    from whstudio.domain import policies

    if reveal is not None and reveal not in ("never", "after_answer", "after_close"):
        fail("reveal: never, after_answer or after_close", 2)
    if not 1 <= len(dataset) <= 200:
        fail("dataset: 1 to 200 characters", 2)
    url = database_url(load_settings())
    ensure_schema(url)
    if reveal is None and gold_feedback is None:
        row = transact(url, lambda conn: policies.policy_of(conn, dataset))
    else:
        row = transact(
            url,
            lambda conn: policies.set_policy(
                conn, dataset, reveal=reveal, gold_feedback=gold_feedback
            ),
        )
    out.print(
        f"{dataset}: others' answers shown {row['reveal'].replace('_', ' ')}; gold verdicts "
        f"{'shown' if row['gold_feedback'] else 'hidden'} to annotators",
        highlight=False,
    )
