"""Guidelines per dataset: Markdown shown on the answering page, versioned, with optional
criteria an annotator ticks with their answer ("rating reasons": helpfulness, accuracy, ...).

Publishing makes a new version (the old ones stay readable); an answer records the version in
force when it was stored (submit_answer_v1) and the criteria ticked, which must be among that
version's.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.errors import InvalidInput, NotFound

MAX_BODY_CHARS = 100_000
MAX_CRITERIA = 20
CRITERION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


async def newest(conn: AsyncConnection, dataset: str) -> dict[str, Any] | None:
    """The guidelines in force for a dataset, or None when it has none."""
    return await q.fetch_one(conn, "guidelines.newest", {"dataset": dataset})


async def version(conn: AsyncConnection, dataset: str, number: int) -> dict[str, Any]:
    """One version of a dataset's guidelines, or raise NotFound."""
    row = await q.fetch_one(conn, "guidelines.version", {"dataset": dataset, "version": number})
    if row is None:
        raise NotFound(f"dataset {dataset!r} has no guidelines version {number}", field="version")
    return row


async def versions(conn: AsyncConnection, dataset: str) -> list[dict[str, Any]]:
    """Every version of a dataset's guidelines, newest first (without their text)."""
    return await q.fetch_all(conn, "guidelines.versions", {"dataset": dataset})


def check(body: str, criteria: list[str]) -> list[str]:
    """Return the criteria in their given order, or raise InvalidInput naming the field."""
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"guidelines hold at most {MAX_BODY_CHARS:,} characters", field="body")
    if not body.strip():
        raise InvalidInput("guidelines must not be empty", field="body")
    if len(criteria) > MAX_CRITERIA:
        raise InvalidInput(f"at most {MAX_CRITERIA} criteria", field="criteria")
    for name in criteria:
        if not CRITERION.match(name):
            raise InvalidInput(
                f"criterion {name[:70]!r}: lower-case letters, digits, '-' and '_', 1 to 64"
                " characters",
                field="criteria",
            )
    if len(set(criteria)) != len(criteria):
        raise InvalidInput("a criterion is listed twice", field="criteria")
    return criteria


async def publish(
    conn: AsyncConnection,
    dataset: str,
    *,
    body: str,
    criteria: list[str],
    created_by: UUID | None,
) -> tuple[dict[str, Any], bool]:
    """Make `body` and `criteria` the dataset's guidelines; return (them, whether a new version
    was made: not when they equal the version in force)."""
    if not 1 <= len(dataset) <= 200:
        raise InvalidInput("a dataset name has 1 to 200 characters", field="dataset")
    criteria = check(body, criteria)
    await q.fetch_one(conn, "guidelines.lock", {"dataset": dataset})
    current = await newest(conn, dataset)
    if current is not None and (current["body"], current["criteria"]) == (body, criteria):
        return current, False
    row = await q.fetch_one(
        conn,
        "guidelines.publish",
        {"dataset": dataset, "body": body, "criteria": criteria, "created_by": created_by},
    )
    assert row is not None
    return row, True


async def set_reasons(conn: AsyncConnection, submission_id: UUID, reasons: list[str]) -> None:
    """Record the criteria an annotator ticked with an answer (in its transaction); raise
    InvalidInput when one is not among the criteria of the guidelines it was given under."""
    row = await q.fetch_one(
        conn, "guidelines.set_reasons", {"id": submission_id, "reasons": reasons}
    )
    if row is None:
        raise InvalidInput(
            "reasons: each must be one of the criteria in this dataset's guidelines",
            field="reasons",
        )
