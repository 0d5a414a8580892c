"""`whstudio webhooks …`: webhook subscriptions and the delivery worker."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from whstudio.cli.common import database_url, ensure_schema, err, fail, load_settings, out, transact

app = typer.Typer(help="Webhook subscriptions and delivery.", no_args_is_help=True)


@app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Receiver URL (http or https).")],
    event: Annotated[
        list[str],
        typer.Option(
            help="task.consensus_reached, task.adjudicated or response.created; repeat for more."
        ),
    ],
    description: Annotated[str, typer.Option(help="What the receiver is.")] = "",
) -> None:
    """Register a webhook; its signing secret is printed once, alone on the last line."""
    from whstudio.domain import webhooks
    from whstudio.domain.destinations import AllowList

    settings = load_settings()
    allowed = AllowList.parse(settings.webhook_allowed_hosts)
    url_ = database_url(settings)
    ensure_schema(url_)
    row = transact(
        url_,
        lambda c: webhooks.create(
            c, url=url, events=event, description=description, allowed=allowed
        ),
    )
    err.print(f"webhook {row['id']} -> {row['url']} for {', '.join(row['events'])}; secret:")
    print(row["secret"])


@app.command("list")
def webhooks_list() -> None:
    """List webhooks with their delivery counts."""
    from rich.table import Table

    from whstudio.domain import webhooks

    url = database_url(load_settings())
    ensure_schema(url)
    rows = transact(url, webhooks.list_all)
    table = Table("id", "url", "events", "active", "pending", "delivered", "failed", box=None)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["url"],
            ", ".join(r["events"]),
            "yes" if r["is_active"] else "no",
            str(r["pending"]),
            str(r["delivered"]),
            str(r["failed"]),
        )
    out.print(table)


@app.command("remove")
def webhooks_remove(webhook_id: Annotated[str, typer.Argument(help="Webhook id.")]) -> None:
    """Remove a webhook and its undelivered events."""
    from uuid import UUID

    from whstudio.domain import webhooks

    try:
        ident = UUID(webhook_id)
    except ValueError:
        fail("webhook_id: not a valid id")
    url = database_url(load_settings())
    ensure_schema(url)
    transact(url, lambda c: webhooks.delete(c, ident))
    out.print(f"removed {ident}")


@app.command("deliveries")
def webhooks_deliveries(
    status: Annotated[str | None, typer.Option(help="pending, delivered or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
) -> None:
    """Print the delivery log as JSON lines, newest first."""
    from whstudio.domain import webhooks

    if status not in (None, "pending", "delivered", "failed"):
        fail("status: use pending, delivered or failed")
    url = database_url(load_settings())
    ensure_schema(url)
    rows = transact(url, lambda c: webhooks.deliveries(c, status=status, limit=limit))
    for row in rows:
        sys.stdout.write(json.dumps(row, default=str) + "\n")


@app.command("work")
def webhooks_work(
    once: Annotated[
        bool, typer.Option(help="Deliver what is due now, then exit (for cron).")
    ] = False,
) -> None:
    """Run a delivery worker (beside or instead of the app's own; any number may run)."""
    import asyncio
    import signal

    from whstudio.db.pool import connect
    from whstudio.workers.webhooks import Policy, Worker

    settings = load_settings()
    url = database_url(settings)
    ensure_schema(url)
    worker = Worker(lambda: connect(url), Policy.from_settings(settings))

    async def main() -> int:
        if once:
            return await worker.drain()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.request_stop)
        await worker.run()
        return 0

    made = asyncio.run(main())
    out.print(f"{made} delivery attempts" if once else "stopped", highlight=False)
