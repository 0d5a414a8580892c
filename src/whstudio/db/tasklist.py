"""The task dashboard's queries: a keyset page and its total, each composed from the named
blocks tasks.list_page and tasks.list_count and the fixed fragments of db/sql/tasklist.sql,
never from input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql

from whstudio.db.queries import QUERIES

# Sort keys: column, direction, and the SQL type the cursor value is read back as.
SORTS: dict[str, tuple[str, str, str]] = {
    "created": ("t.created_at", "DESC", "timestamptz"),
    "priority": ("t.priority", "DESC", "integer"),
    "progress": ("c.total_responses", "DESC", "integer"),
    "remaining": ("c.remaining", "ASC", "integer"),
    "agreement": ("c.agreement_percentage", "DESC", "numeric"),
}

# Filters: each a fixed SQL fragment over named parameters, the block tasklist.where_<filter>
# for a page and tasklist.count_where_<filter> for the total.
FILTERS = (
    "status",
    "question_type",
    "source_dataset",
    "consensus_reached",
    "needs_more_responses",
    "has_gold",
)


def _where(fragments: list[sql.Composable]) -> sql.Composable:
    if not fragments:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(fragments)


async def page(
    conn: AsyncConnection,
    *,
    filters: Mapping[str, Any],
    sort: str,
    after: tuple[str, UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Return up to `limit` dashboard rows after the keyset position `after` (sort value as
    text, task id), each with its `sort_value`. A filter applies when its key is in `filters`."""
    column, direction, cast = SORTS[sort]
    params: dict[str, Any] = dict(filters)
    where: list[sql.Composable] = [
        sql.SQL(QUERIES[f"tasklist.where_{name}"]) for name in FILTERS if name in params
    ]
    if after is not None:
        params.update(after_value=after[0], after_id=after[1])
        where.append(
            sql.SQL(QUERIES["tasklist.after"]).format(
                column=sql.SQL(column),
                op=sql.SQL("<" if direction == "DESC" else ">"),
                cast=sql.SQL(cast),
            )
        )
    params["limit"] = limit
    query = (
        sql.SQL(QUERIES["tasks.list_page"]).format(sort=sql.SQL(column))
        + _where(where)
        + sql.SQL(" ")
        + sql.SQL(QUERIES["tasklist.order"]).format(
            column=sql.SQL(column), direction=sql.SQL(direction)
        )
    )
    cur = await conn.execute(query, params)
    return await cur.fetchall()


async def total(conn: AsyncConnection, *, filters: Mapping[str, Any]) -> int:
    """Return how many tasks the filters in `filters` let through, from the kept totals."""
    kept = [sql.SQL(QUERIES[f"tasklist.count_where_{name}"]) for name in FILTERS if name in filters]
    query = sql.SQL(QUERIES["tasks.list_count"]) + _where(kept)
    cur = await conn.execute(query, filters)
    return (await cur.fetchone())["n"]
