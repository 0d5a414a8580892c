"""The `whstudio` command line: one Typer app, composed here from a module per command group.

A command of a group goes in that group's module (`db.py`, `users.py`, …); a top-level command is
a function in `server.py` or `data.py`, registered below in the order `--help` lists it. What the
modules share is in `common.py`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from whstudio import __version__
from whstudio.cli import consensus, data, db, legacy, quality, server, users, webhooks
from whstudio.cli.common import out

app = typer.Typer(
    help="WorldHuman Studio: human feedback for RLHF.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()


app.command()(server.config)
app.command("import")(data.import_)
app.command()(server.serve)
app.command()(server.demo)
app.command("export")(data.export)
app.command("rankings")(data.rankings)
app.command("import-items")(data.import_items)
app.command("import-answers")(data.import_answers)

app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(consensus.app, name="consensus")
app.add_typer(legacy.app, name="legacy")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(quality.app, name="quality")


def main() -> None:
    app()
