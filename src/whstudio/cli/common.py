"""What every command module shares: the consoles, failing with a message, the settings, the
database a command runs on, and the progress bar."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from whstudio.errors import ConfigurationError, WhError
from whstudio.settings import Settings, get_settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_invalid(exc, code: int = 1) -> None:
    """Fail with the first field a pydantic ValidationError names, and why."""
    first = exc.errors()[0]
    fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}", code)


def load_settings(**overrides: Any) -> Settings:
    """Return the settings in force, with the options given on the command line over them."""
    base = get_settings()
    clean = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=clean) if clean else base


def database_url(settings: Settings) -> str:
    """Return the URL of the database to use, once its server answers (exit 2 if it does not)."""
    from whstudio.db import connect

    try:
        url = connect.database_url(settings)
        connect.check_server(url)
    except ConfigurationError as exc:
        fail(exc.message, 2)
    return url


def transact(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run one async domain call on its own connection, committing when it returns."""
    from whstudio.db.pool import connect

    async def runner() -> T:
        async with connect(url) as conn:
            async with conn.transaction():
                return await work(conn)

    try:
        return asyncio.run(runner())
    except WhError as exc:
        fail(exc.message)
    raise AssertionError("unreachable")


def progress_bar() -> Progress:
    """A Rich progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def ensure_schema(url: str) -> None:
    from whstudio.db import migrate

    current = migrate.current_revision(url)
    if current != migrate.head_revision():
        fail(
            f"the database schema is at {current or 'nothing'}, not "
            f"{migrate.head_revision()}: run `whstudio db upgrade` first",
            2,
        )


def import_file(
    url: str,
    path: Path,
    *,
    dataset: str | None,
    threshold: int | None,
    min_agreement: float | None,
    allow_tie: bool | None,
    as_user: str | None,
    keep_identical: bool = False,
):
    """Import a file of pairwise items (`import`, and the sample in `demo`); return the report."""
    from whstudio.domain import importing, users

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    parsed = importing.parse_text(text, path.name, keep_identical=keep_identical)
    name = dataset or (importing.MTBENCH_DATASET if parsed.mtbench else path.stem)

    async def work(conn):
        creator = (await users.get_user(conn, as_user))["id"] if as_user else None
        with progress_bar() as progress:
            bar = progress.add_task(f"importing {path.name}", total=len(parsed.items))
            return await importing.import_pairs(
                conn,
                parsed,
                source=str(path),
                dataset=name,
                creator_id=creator,
                consensus_threshold=threshold,
                min_agreement_percentage=min_agreement,
                allow_tie=allow_tie,
                on_progress=lambda n: progress.advance(bar, n),
            )

    return transact(url, work)


def print_import_report(report) -> None:
    out.print(
        f"{report.source}: {report.rows} rows; questions {report.questions_created} new, "
        f"{report.questions_existing} already there; tasks {report.tasks_created} new, "
        f"{report.tasks_existing} already there; {len(report.failed)} failed",
        highlight=False,
    )
    for note in report.notes:
        out.print(f"  note: {note}", highlight=False)
    for issue in report.failed:
        err.print(f"  line {issue.line}: {issue.reason}", highlight=False)
    for issue in report.skipped:
        out.print(f"  left out, line {issue.line}: {issue.reason}", highlight=False)
