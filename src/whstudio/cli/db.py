"""`whstudio db …`: schema revisions."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from whstudio.cli.common import database_url, load_settings, out

app = typer.Typer(help="Schema revisions.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(target: Annotated[str, typer.Argument(help="Revision to reach.")] = "head") -> None:
    """Apply schema revisions up to TARGET (default: head)."""
    from whstudio.db import migrate

    url = database_url(load_settings())
    migrate.upgrade(url, target)
    out.print(f"schema at {migrate.current_revision(url)}")


@app.command("downgrade")
def db_downgrade(
    target: Annotated[str, typer.Argument(help="Revision to return to; 'base' removes all.")],
) -> None:
    """Undo schema revisions down to TARGET."""
    from whstudio.db import migrate

    url = database_url(load_settings())
    migrate.downgrade(url, target)
    out.print(f"schema at {migrate.current_revision(url) or 'base'}")


@app.command("current")
def db_current() -> None:
    """Print the revision the database is at, and the newest one the code knows."""
    from whstudio.db import migrate

    url = database_url(load_settings())
    current = migrate.current_revision(url)
    head = migrate.head_revision()
    out.print(f"current: {current or 'base'}")
    out.print(f"head:    {head}{'' if current == head else '  (upgrade needed)'}")


@app.command("schema")
def db_schema() -> None:
    """Print the schema of the database as SQL (pg_dump --schema-only)."""
    from whstudio.db import catalog
    from whstudio.db.embedded import pg_bin_dir

    url = database_url(load_settings())
    sys.stdout.write(catalog.dump_schema(url, str(pg_bin_dir() / "pg_dump")))
