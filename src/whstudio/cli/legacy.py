"""`whstudio legacy …`: the online migration of a legacy database, step by step."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from whstudio.cli.common import err, fail, out, progress_bar

app = typer.Typer(
    help="Online migration of a legacy database (DATABASE_URL) to the new schema.",
    no_args_is_help=True,
)

ReferenceUrl = Annotated[
    str | None,
    typer.Option(
        help="An empty database to build the fresh schema in for comparison "
        "(default: a scratch database created beside the legacy one and dropped after)."
    ),
]


def _url() -> str:
    from whstudio.db.connect import normalize_url
    from whstudio.settings import get_settings

    settings = get_settings()
    # The migration needs a session of its own (long transactions, its triggers' installation):
    # a direct URL when the app's goes through a pooler.
    for given in (settings.direct_database_url, settings.database_url):
        if given is not None and given.get_secret_value():
            return _direct(
                normalize_url(given.get_secret_value()),
                "set WHSTUDIO_DIRECT_DATABASE_URL to PostgreSQL's own address, not the pooler's",
            )
    fail("DATABASE_URL (or WHSTUDIO_DIRECT_DATABASE_URL) must name the legacy database", 2)


def _direct(url: str, remedy: str) -> str:
    """Return `url` once it is known to reach PostgreSQL directly; exit 2 before anything is done
    if it goes through a transaction-mode pooler, which would hand the tool's statements to other
    sessions and so lose its session locks and the lock its triggers are installed under."""
    from whstudio.db.connect import goes_through_pooler
    from whstudio.errors import ConfigurationError
    from whstudio.settings import mask_url

    try:
        reason = asyncio.run(goes_through_pooler(url))
    except ConfigurationError as exc:
        fail(exc.message, 2)
    if reason is not None:
        fail(
            f"{mask_url(url)} goes through a connection pooler ({reason}); the legacy migration"
            f" requires a direct session to PostgreSQL: {remedy}",
            2,
        )
    return url


def _guard(work):
    from whstudio.legacy.steps import StepRefused
    from whstudio.legacy.users import LetInError

    try:
        return work()
    except (StepRefused, LetInError, ValueError) as exc:
        fail(str(exc), 2)


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the recorded step, read path, backfill progress and quarantine counts."""
    from whstudio.legacy import steps

    st = steps.status(_url())
    if as_json:
        print(json.dumps(st, default=str))
        return
    if st["step"] is None:
        out.print("not started: run `whstudio legacy plan`, then `whstudio legacy expand`")
        return
    out.print(f"step: {st['step']}   read path: {st['read_path']}   fresh head: {st['fresh_head']}")
    for p in st["progress"]:
        done = "done" if p["finished_at"] else "in progress"
        out.print(
            f"backfill {p['phase']}: {p['migrated']} migrated, {p['quarantined']} quarantined"
            f" of {p['total']} ({done})"
        )
    for table, n in st["quarantine"].items():
        out.print(f"quarantine: {n} {table} row(s)")
    for table, n in st["normalised"].items():
        out.print(f"migrated with a field read differently or dropped: {n} {table} row(s)")


@app.command("plan")
def plan(reference_url: ReferenceUrl = None) -> None:
    """List what expand would run, with the lock each statement takes; changes nothing."""
    from whstudio.legacy import steps

    statements = _guard(lambda: steps.plan(_url(), reference_url=reference_url))
    if not statements:
        out.print("nothing to add: the schema already has every object of a fresh install")
        return
    table = Table("kind", "object", "lock", "then")
    for st in statements:
        table.add_row(
            st.kind, st.target, st.locks, "VALIDATE after backfill" if st.validate else ""
        )
    out.print(table)
    out.print(f"{len(statements)} statement(s)")


@app.command("expand")
def expand(reference_url: ReferenceUrl = None) -> None:
    """Add the new schema's objects and the dual-write triggers; only adds, online."""
    from whstudio.legacy import steps

    report = _guard(lambda: steps.expand(_url(), reference_url=reference_url))
    out.print(
        f"expanded: {len(report.statements)} statement(s), {report.retries} lock retries,"
        f" {len(report.indexes)} concurrent index(es), {report.seconds:.1f} s"
    )
    if report.absent:
        out.print(
            f"absent legacy tables (this deployment never had them; checked as absent):"
            f" {', '.join(report.absent)}"
        )
    if report.adopted:
        out.print(
            f"tables that appeared since the baseline, now taken in: {', '.join(report.adopted)}"
        )


@app.command("backfill")
def backfill(
    batch: Annotated[int, typer.Option(min=1, max=100000, help="Rows per batch.")] = 500,
    rate: Annotated[
        float | None, typer.Option(min=1, help="At most this many rows per second.")
    ] = None,
) -> None:
    """Migrate existing rows in keyset batches; resumes where a killed run stopped."""
    from whstudio.legacy import steps

    progress = progress_bar()
    bars: dict[str, int] = {}

    def show(p) -> None:
        if p.name not in bars:
            bars[p.name] = progress.add_task(f"backfill {p.name}", total=p.total)
        progress.update(bars[p.name], completed=p.migrated + p.quarantined)

    with progress:
        phases = _guard(lambda: steps.backfill(_url(), batch=batch, rate=rate, on_progress=show))
    for p in phases:
        out.print(f"{p.name}: {p.migrated} migrated, {p.quarantined} quarantined")


@app.command("verify")
def verify(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Prove zero loss; exit 1 on any difference."""
    from whstudio.legacy import verify as v

    report = _guard(lambda: v.verify(_url()))
    if as_json:
        print(json.dumps(report.as_dict(), default=str))
    else:
        d = report.as_dict()
        out.print(f"legacy rows changed by the migration: {d['checksums'] or 'none'}")
        out.print(f"rows neither migrated nor quarantined: {d['unmigrated']}")
        out.print(f"quarantined (kept, see the quarantine table): {d['quarantined']}")
        out.print(f"migrated with a field read differently or dropped: {d['normalised']}")
        out.print(f"rows compared by value: {d['rows_compared']}")
        for table, bad in report.json_mismatches.items():
            for line in bad[:20]:
                err.print(f"  {table} {line}", highlight=False)
        out.print(f"consensus rows differing from a recomputation: {d['consensus_drift']}")
        out.print(f"migrated tasks without a consensus row: {d['missing_consensus']}")
        out.print("verified" if report.ok else "[bold red]differences found[/]")
    if not report.ok:
        raise typer.Exit(1)


@app.command("switch")
def switch(path: Annotated[str, typer.Argument(help="old or new.")]) -> None:
    """Point the application's reads at the old or the new structure (instant both ways)."""
    from whstudio.legacy import steps

    before = _guard(lambda: steps.switch(_url(), path))
    out.print(f"read path: {before} -> {path}")


@app.command("contract")
def contract(
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Really remove the old columns and triggers.")
    ] = False,
    quiet_seconds: Annotated[
        float, typer.Option(min=0, help="How long no old-path write may arrive before it starts.")
    ] = 5.0,
    reference_url: ReferenceUrl = None,
) -> None:
    """Remove the old columns, triggers and constraints (after verify and switch; no rollback)."""
    from whstudio.legacy import contract as c

    if not confirm:
        fail("contract removes the old application's columns for good: add --confirm", 2)
    report = _guard(
        lambda: c.contract(_url(), reference_url=reference_url, quiet_seconds=quiet_seconds)
    )
    out.print(f"archived legacy-only columns: {report.archived}")
    out.print(f"users given a valid sign-in name: {report.renamed_users}")
    for line in report.catalog_diff[:40]:
        err.print(line, highlight=False)
    if report.catalog_diff:
        fail("the schema still differs from a fresh install (above)")
    out.print(f"contracted in {report.seconds:.1f} s: the schema equals a fresh install's")


@app.command("rollback")
def rollback(
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Really remove the new schema.")
    ] = False,
) -> None:
    """Return the database to what the old application expects; exit 1 if not proven."""
    from whstudio.legacy import steps

    if not confirm:
        fail("rollback removes the new schema's tables and columns: add --confirm", 2)
    report = _guard(lambda: steps.rollback(_url()))
    out.print(f"dropped {len(report.dropped)} object group(s)")
    for line in report.catalog_diff[:40]:
        err.print(line, highlight=False)
    if report.checksum_problems:
        err.print(f"legacy rows differing: {report.checksum_problems}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    out.print("rolled back: schema and legacy checksums equal the baseline")


@app.command("rehearse")
def rehearse(
    source_url: Annotated[str, typer.Argument(help="The database to rehearse on (read only).")],
    tasks: Annotated[
        int, typer.Option(min=1, max=10_000_000, help="Tasks to sample, with their answers.")
    ] = 2000,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the scratch database for a look afterwards.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run expand, backfill, verify and rollback on a scratch copy of a sample of the given
    database and report what the real migration would meet; the original is only read.

    Exit 1 when the rehearsal was refused or verify or rollback would fail.
    """
    from whstudio.db.connect import normalize_url
    from whstudio.legacy import rehearse as rehearsal

    source = _direct(normalize_url(source_url), "give the rehearsal PostgreSQL's own address")
    report = _guard(lambda: rehearsal.rehearse(source, tasks=tasks, keep=keep))
    if as_json:
        print(json.dumps(report.as_dict(), default=str))
    else:
        _print_rehearsal(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_rehearsal(report) -> None:
    d = report.as_dict()
    out.print(f"rows in the original: {d['source_tables']}")
    out.print(f"rows copied into the rehearsal: {d['sampled']}")
    out.print(f"absent legacy tables: {', '.join(d['absent_tables']) or 'none'}")
    for table, key in d["keys"].items():
        out.print(f"key of {table}: {key}")
    for title, groups in (("quarantined", d["quarantined"]), ("read differently or dropped",
                                                               d["normalised"])):  # fmt: skip
        for table, kinds in groups.items():
            for kind, entry in kinds.items():
                out.print(
                    f"{title} {table}: {entry['rows']} in the sample,"
                    f" about {entry['estimated_in_whole_database']} in all: {kind}",
                    highlight=False,
                )
                for example in entry["examples"]:
                    err.print(f"  e.g. {example}", highlight=False)
    if d["refused"]:
        err.print(f"refused: {d['refused']}", highlight=False)
    v = d["verify"]
    out.print(f"verify on the copy: {'passes' if v.get('ok') else 'FAILS'}")
    out.print(f"rollback on the copy: {'passes' if d['rollback_ok'] else 'FAILS'}")
    out.print(f"seconds: {d['seconds']}")


@app.command("let-in")
def let_in(
    identity: Annotated[str, typer.Argument(help="The user's id, world_id, nullifier or name.")],
    username: Annotated[str | None, typer.Option(help="Sign-in name to give the user.")] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Ask for a password to set.")
    ] = False,
    token: Annotated[str | None, typer.Option(help="Create an API token with this name.")] = None,
) -> None:
    """Let a legacy user sign in: a name, a password and/or an API token (shown once)."""
    from whstudio.legacy import users

    secret = None
    if password:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    row = _guard(
        lambda: users.let_in(_url(), identity, username=username, password=secret, token_name=token)
    )
    err.print(f"{row['username']} ({row['id']}) can sign in", highlight=False)
    if "token" in row:
        print(row["token"])
