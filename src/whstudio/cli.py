"""The `whstudio` command line."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from whstudio import __version__
from whstudio.errors import ConfigurationError, WhError
from whstudio.legacy.cli import legacy_app
from whstudio.settings import Settings, get_settings

app = typer.Typer(
    help="WorldHuman Studio: human feedback for RLHF.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Schema revisions.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts and API tokens.", no_args_is_help=True)
consensus_app = typer.Typer(help="Batch aggregation and consistency checks.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(consensus_app, name="consensus")
app.add_typer(legacy_app, name="legacy")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    base = get_settings()
    clean = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=clean) if clean else base


def _database_url(settings: Settings) -> str:
    from whstudio.db.connect import check_server, database_url

    try:
        url = database_url(settings)
        check_server(url)
    except ConfigurationError as exc:
        fail(exc.message, 2)
    return url


def _run(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
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


def _progress() -> Progress:
    """A Rich progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def _ensure_schema(url: str) -> None:
    from whstudio.db import migrate

    current = migrate.current_revision(url)
    if current != migrate.head_revision():
        fail(
            f"the database schema is at {current or 'nothing'}, not "
            f"{migrate.head_revision()}: run `whstudio db upgrade` first",
            2,
        )


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()


@app.command()
def config() -> None:
    """Print the settings in force, secrets masked."""
    table = Table("setting", "value", box=None)
    for key, value in _settings().masked().items():
        table.add_row(key, value)
    out.print(table)


@db_app.command("upgrade")
def db_upgrade(target: Annotated[str, typer.Argument(help="Revision to reach.")] = "head") -> None:
    """Apply schema revisions up to TARGET (default: head)."""
    from whstudio.db import migrate

    url = _database_url(_settings())
    migrate.upgrade(url, target)
    out.print(f"schema at {migrate.current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(
    target: Annotated[str, typer.Argument(help="Revision to return to; 'base' removes all.")],
) -> None:
    """Undo schema revisions down to TARGET."""
    from whstudio.db import migrate

    url = _database_url(_settings())
    migrate.downgrade(url, target)
    out.print(f"schema at {migrate.current_revision(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at, and the newest one the code knows."""
    from whstudio.db import migrate

    url = _database_url(_settings())
    current = migrate.current_revision(url)
    head = migrate.head_revision()
    out.print(f"current: {current or 'base'}")
    out.print(f"head:    {head}{'' if current == head else '  (upgrade needed)'}")


@db_app.command("schema")
def db_schema() -> None:
    """Print the schema of the database as SQL (pg_dump --schema-only)."""
    from whstudio.db import catalog
    from whstudio.db.embedded import pg_bin_dir

    url = _database_url(_settings())
    sys.stdout.write(catalog.dump_schema(url, str(pg_bin_dir() / "pg_dump")))


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help="annotator, reviewer or admin.")] = "annotator",
    password: Annotated[
        str | None, typer.Option(help="Password (asked for when left out).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the app.")] = None,
) -> None:
    """Create an account."""
    from pydantic import ValidationError

    from whstudio.domain import users
    from whstudio.schemas import UserCreate

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        body = UserCreate(
            username=username,
            password=password,
            role=role,  # type: ignore[arg-type]
            display_name=display_name,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
    url = _database_url(_settings())
    _ensure_schema(url)
    row = _run(
        url,
        lambda c: users.create_user(c, body.username, body.password, body.role, body.display_name),
    )
    out.print(f"created {row['role']} {row['username']} ({row['id']})")


@users_app.command("list")
def users_list() -> None:
    """List accounts."""
    from whstudio.domain import users

    url = _database_url(_settings())
    _ensure_schema(url)
    rows = _run(url, users.list_users)
    table = Table("username", "role", "active", "reputation", "created", box=None)
    for r in rows:
        table.add_row(
            r["username"],
            r["role"],
            "yes" if r["is_active"] else "no",
            str(r["reputation_score"]),
            r["created_at"].strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str | None, typer.Option(help="Token name (default: cli-<time>).")] = None,
) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    from datetime import UTC, datetime

    from whstudio.domain import users

    url = _database_url(_settings())
    _ensure_schema(url)
    token_name = name or f"cli-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"

    async def work(conn):
        user = await users.get_user(conn, username)
        if not user["is_active"]:
            raise WhError(f"user {username!r} is deactivated")
        return await users.create_token(conn, user["id"], token_name)

    row = _run(url, work)
    err.print(f"token {row['name']!r} for {username} (keep it secret; it is not shown again):")
    print(row["token"])


@users_app.command("deactivate")
def users_deactivate(username: Annotated[str, typer.Argument(help="Whose account.")]) -> None:
    """Stop an account from signing in and revoke its API tokens and sessions."""
    from whstudio.domain import users

    url = _database_url(_settings())
    _ensure_schema(url)
    _run(url, lambda c: users.deactivate(c, username))
    out.print(f"deactivated {username}")


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument(help="Whose account.")],
    password: Annotated[
        str | None, typer.Option(help="New password (asked for when left out).")
    ] = None,
) -> None:
    """Set a password (and reactivate the account); ends its web sessions."""
    from whstudio.domain import users

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        fail("password: must be at least 8 characters")
    url = _database_url(_settings())
    _ensure_schema(url)
    _run(url, lambda c: users.set_password(c, username, password))
    out.print(f"password set for {username}")


def _import_file(
    url: str,
    path: Path,
    *,
    dataset: str | None,
    threshold: int,
    min_agreement: float,
    allow_tie: bool | None,
    as_user: str | None,
):
    from whstudio.domain import importing, users

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    parsed = importing.parse_text(text, path.name)
    name = dataset or (importing.MTBENCH_DATASET if parsed.mtbench else path.stem)

    async def work(conn):
        creator = (await users.get_user(conn, as_user))["id"] if as_user else None
        with _progress() as progress:
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

    return _run(url, work)


def _print_report(report) -> None:
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


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help=".json (MT-Bench layout), .jsonl or .csv file.")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name (default: from the file).")
    ] = None,
    threshold: Annotated[int, typer.Option(min=1, max=10000, help="Answers each task needs.")] = 3,
    min_agreement: Annotated[
        float, typer.Option(min=0.01, max=100, help="Agreement % for consensus.")
    ] = 70.0,
    allow_tie: Annotated[
        bool | None,
        typer.Option("--allow-tie/--no-allow-tie", help="Whether answers may be a tie."),
    ] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Record this user as creator.")
    ] = None,
) -> None:
    """Import pairwise items; malformed lines are listed and the exit code is 1 if any failed."""
    if not file.is_file():
        fail(f"no such file: {file}")
    url = _database_url(_settings())
    _ensure_schema(url)
    report = _import_file(
        url,
        file,
        dataset=dataset,
        threshold=threshold,
        min_agreement=min_agreement,
        allow_tie=allow_tie,
        as_user=as_user,
    )
    _print_report(report)
    if report.failed:
        raise typer.Exit(1)


@consensus_app.command("recompute")
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
    url = _database_url(_settings())
    _ensure_schema(url)

    async def work(conn):
        with _progress() as progress:
            bar = progress.add_task("aggregating", total=len(chosen) + 1)
            return await batch.recompute(
                conn, chosen, store=not dry_run, on_step=lambda _: progress.advance(bar)
            )

    run = _run(url, work)
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


@consensus_app.command("verify")
def consensus_verify(
    repair: Annotated[bool, typer.Option(help="Rebuild every task that differs.")] = False,
) -> None:
    """Compare every stored consensus with a recomputation from scratch; exit 1 on a difference."""
    from whstudio.domain import consensus

    url = _database_url(_settings())
    _ensure_schema(url)

    async def work(conn):
        drifted = await consensus.drifted(conn)
        if repair:
            for task_id in drifted:
                await consensus.rebuild(conn, task_id)
        return drifted, await consensus.counts_drifted(conn)

    drifted, wrong_counts = _run(url, work)
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


def _prestart(url: str) -> None:
    """Bring the schema to head, one process at a time (several servers may start together)."""
    import psycopg

    from whstudio.db import migrate

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('whstudio.migrate'))")
        try:
            if migrate.current_revision(url) != migrate.head_revision():
                migrate.upgrade(url, "head")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('whstudio.migrate'))")


def _serve(settings: Settings, url: str) -> None:
    import signal

    import uvicorn

    # uvicorn shuts down on SIGTERM, then raises the signal again; left to its default action,
    # that ends the process before exit handlers run, and the embedded PostgreSQL (stopped by
    # one) would outlive us. Exit normally instead, with the status a SIGTERM gives.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))

    from whstudio.web.app import create_app
    from whstudio.web.logs import configure_logging

    configure_logging(settings.log_level)
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "log_config": None,
    }
    if settings.workers > 1:
        # Worker processes build the app from the environment: the database this process
        # resolved (the embedded server stays this process's to stop) and a secret key that
        # exists before they start, so that they all sign sessions alike.
        import os

        settings.resolved_secret_key()
        os.environ["DATABASE_URL"] = url
        os.environ["WHSTUDIO_HOST"] = settings.host
        os.environ["WHSTUDIO_PORT"] = str(settings.port)
        uvicorn.run(
            "whstudio.web.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            **options,
        )
        return
    uvicorn.run(create_app(settings, url), **options)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (WHSTUDIO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (WHSTUDIO_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Processes (WHSTUDIO_WORKERS).")
    ] = None,
) -> None:
    """Migrate the schema to head if needed, then serve the web app and the API."""
    settings = _settings(host=host, port=port, workers=workers)
    url = _database_url(settings)
    _prestart(url)
    out.print(f"serving on http://{settings.host}:{settings.port}/")
    _serve(settings, url)


DEMO_USERS = (("admin", "admin"), ("alice", "annotator"), ("bob", "annotator"))


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Address to bind (WHSTUDIO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (WHSTUDIO_PORT).")] = None,
    serve_app: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after setting up.")
    ] = True,
) -> None:
    """Start the database, migrate, create an admin and two annotators, import MT-Bench, serve."""
    from whstudio.domain import importing, users

    settings = _settings(host=host, port=port)
    url = _database_url(settings)
    _prestart(url)
    logins: list[tuple[str, str, str]] = []
    for name, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)

        async def ensure(conn, name=name, role=role, password=password):
            try:
                await users.get_user(conn, name)
            except WhError:
                await users.create_user(conn, name, password, role)
            else:
                await users.set_password(conn, name, password)

        _run(url, ensure)
        logins.append((name, role, password))
    report = _import_file(
        url,
        importing.sample_path(),
        dataset=None,
        threshold=3,
        min_agreement=70.0,
        allow_tie=None,
        as_user="admin",
    )
    _print_report(report)
    out.print("MT-Bench sample: LMSYS mt_bench_human_judgments (CC BY 4.0), Zheng et al. 2023.")
    print(f"WorldHuman Studio demo: http://{settings.host}:{settings.port}/login")
    for name, role, password in logins:
        print(f"login: {name} / {password} ({role})")
    sys.stdout.flush()
    if serve_app:
        _serve(settings, url)


# export, rankings, webhooks and quality commands live in their own modules and register on
# `app` when imported.
from whstudio import cli_data, cli_quality  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
