"""`whstudio config`, `serve` and `demo`: the settings in force and the running app."""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer
from rich.table import Table

from whstudio.cli.common import (
    database_url,
    import_file,
    load_settings,
    out,
    print_import_report,
    transact,
)
from whstudio.db.connect import pooled_url, read_url
from whstudio.errors import WhError
from whstudio.settings import Settings


def config() -> None:
    """Print the settings in force, secrets masked."""
    table = Table("setting", "value", box=None)
    for key, value in load_settings().masked().items():
        table.add_row(key, value)
    out.print(table)


def _prestart(url: str) -> None:
    """Bring the schema to head, one process at a time (several servers may start together)."""
    import psycopg

    from whstudio.db import migrate
    from whstudio.db.queries import QUERIES

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(QUERIES["migrate.lock"])
        try:
            if migrate.current_revision(url) != migrate.head_revision():
                migrate.upgrade(url, "head")
        finally:
            conn.execute(QUERIES["migrate.unlock"])


def _serve(settings: Settings, url: str, *, readable_log: bool = False) -> None:
    """Serve the app; `readable_log`: one short line per request (the demo), else JSON lines
    when not on a terminal."""
    import signal

    import uvicorn

    # uvicorn shuts down on SIGTERM, then raises the signal again; left to its default action,
    # that ends the process before exit handlers run, and the embedded PostgreSQL (stopped by
    # one) would outlive us. Exit normally instead, with the status a SIGTERM gives.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))

    from whstudio.web.app import create_app
    from whstudio.web.logs import configure_logging
    from whstudio.web.timeouts import http_protocol

    configure_logging(settings.log_level, json=False if readable_log else None)
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "log_config": None,
        # uvicorn's HTTP/1.1 protocol (httptools), with a time limit on request heads.
        "http": http_protocol(settings.header_timeout),
    }
    if settings.workers > 1:
        # Worker processes build the app from the environment: the database this process
        # resolved (the embedded server stays this process's to stop) and a secret key that
        # exists before they start, so that they all sign sessions alike.
        import os

        settings.resolved_secret_key()
        if settings.database_url is None:  # the embedded server's, resolved here
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
    uvicorn.run(create_app(settings, url, pooled_url(settings), read_url(settings)), **options)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (WHSTUDIO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (WHSTUDIO_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Processes (WHSTUDIO_WORKERS).")
    ] = None,
) -> None:
    """Migrate the schema to head if needed, then serve the web app and the API."""
    settings = load_settings(host=host, port=port, workers=workers)
    url = database_url(settings)
    _prestart(url)
    out.print(f"serving on http://{settings.host}:{settings.port}/")
    _serve(settings, url)


DEMO_USERS = (("admin", "admin"), ("alice", "annotator"), ("bob", "annotator"))


def demo(
    host: Annotated[str | None, typer.Option(help="Address to bind (WHSTUDIO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (WHSTUDIO_PORT).")] = None,
    serve_app: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after setting up.")
    ] = True,
) -> None:
    """Start the database, migrate, create an admin and two annotators, import MT-Bench, serve."""
    from whstudio.domain import importing, security, users

    settings = load_settings(host=host, port=port)
    url = database_url(settings)
    _prestart(url)
    logins: list[tuple[str, str, str | None]] = []
    for name, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        while security.password_problem(password, name):  # a random one is rarely refused
            password = secrets.token_urlsafe(9)

        async def ensure(conn, name=name, role=role, password=password) -> bool:
            """Make the account on the first start (True); later starts keep its password."""
            try:
                await users.get_user(conn, name)
            except WhError:
                await users.create_user(conn, name, password, role)
                return True
            return False

        made = transact(url, ensure)
        logins.append((name, role, password if made else None))
    report = import_file(
        url,
        importing.sample_path(),
        dataset=None,
        threshold=None,  # the defaults for new tasks; a rule changed since is kept
        min_agreement=None,
        allow_tie=None,
        as_user="admin",
        # Three of the sample's pairs have the same text on both sides: the demo keeps them,
        # and the answering page says so to whoever gets one.
        keep_identical=True,
    )
    print_import_report(report)
    out.print("MT-Bench sample: LMSYS mt_bench_human_judgments (CC BY 4.0), Zheng et al. 2023.")
    print(f"WorldHuman Studio demo: http://{settings.host}:{settings.port}/login")
    for name, role, password in logins:
        if password is not None:
            print(f"login: {name} / {password} ({role})")
        else:
            print(
                f"login: {name} ({role}; password printed at the first start; a new one:"
                f" whstudio users set-password {name})"
            )
    sys.stdout.flush()
    if serve_app:
        _serve(settings, url, readable_log=True)
