"""`whstudio users …`: accounts and API tokens."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.table import Table

from whstudio.cli.common import (
    database_url,
    ensure_schema,
    err,
    fail,
    fail_invalid,
    load_settings,
    out,
    transact,
)
from whstudio.errors import WhError

app = typer.Typer(help="Accounts and API tokens.", no_args_is_help=True)


@app.command("create")
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
        fail_invalid(exc)
    url = database_url(load_settings())
    ensure_schema(url)
    row = transact(
        url,
        lambda c: users.create_user(c, body.username, body.password, body.role, body.display_name),
    )
    out.print(f"created {row['role']} {row['username']} ({row['id']})")


@app.command("list")
def users_list() -> None:
    """List accounts."""
    from whstudio.domain import users

    url = database_url(load_settings())
    ensure_schema(url)
    rows = transact(url, users.list_users)
    table = Table("username", "role", "kind", "groups", "active", "reputation", "created", box=None)
    for r in rows:
        table.add_row(
            r["username"],
            r["role"],
            r["kind"],
            ",".join(r["groups"]),
            "yes" if r["is_active"] else "no",
            str(r["reputation_score"]),
            r["created_at"].strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str | None, typer.Option(help="Token name (default: cli-<time>).")] = None,
) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    from datetime import UTC, datetime

    from whstudio.domain import users

    url = database_url(load_settings())
    ensure_schema(url)
    token_name = name or f"cli-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"

    async def work(conn):
        user = await users.get_user(conn, username)
        if not user["is_active"]:
            raise WhError(f"user {username!r} is deactivated")
        return await users.create_token(conn, user["id"], token_name)

    row = transact(url, work)
    err.print(f"token {row['name']!r} for {username} (keep it secret; it is not shown again):")
    print(row["token"])


@app.command("deactivate")
def users_deactivate(username: Annotated[str, typer.Argument(help="Whose account.")]) -> None:
    """Stop an account from signing in and revoke its API tokens and sessions."""
    from whstudio.domain import users

    url = database_url(load_settings())
    ensure_schema(url)
    transact(url, lambda c: users.deactivate(c, username))
    out.print(f"deactivated {username}")


@app.command("groups")
def users_groups(
    username: Annotated[str, typer.Argument(help="Whose account.")],
    groups: Annotated[
        list[str] | None,
        typer.Argument(help="The account's groups, replacing its own (none given: unchanged)."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="person, or model (an LLM judge); left out: unchanged.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every group.")] = False,
) -> None:
    """Set the groups agreement is sliced by (expert, author, crowd, ...) and the kind."""
    from pydantic import ValidationError

    from whstudio.domain import users
    from whstudio.schemas import UserGroupsChange

    if clear and groups:
        fail("give groups or --clear, not both")
    try:
        body = UserGroupsChange(
            groups=[] if clear else (groups or None),
            kind=kind,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        fail_invalid(exc)
    url = database_url(load_settings())
    ensure_schema(url)
    row = transact(url, lambda c: users.set_groups(c, username, body.groups, body.kind))
    out.print(
        f"{row['username']}: {row['kind']}, groups {', '.join(row['groups']) or '(none)'}",
        highlight=False,
    )


@app.command("set-password")
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
    url = database_url(load_settings())
    ensure_schema(url)
    transact(url, lambda c: users.set_password(c, username, password))
    out.print(f"password set for {username}")
