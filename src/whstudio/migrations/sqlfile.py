"""Run the `-- migrate:up` or `-- migrate:down` half of a revision's SQL file."""

from __future__ import annotations

from pathlib import Path

from alembic import op

_UP = "-- migrate:up"
_DOWN = "-- migrate:down"


def sections(path: Path) -> tuple[str, str]:
    """Return the (up, down) SQL of a revision file."""
    text = path.read_text(encoding="utf-8")
    if _UP not in text or _DOWN not in text:
        raise RuntimeError(f"{path.name} needs both '{_UP}' and '{_DOWN}' markers")
    up, down = text.split(_DOWN, 1)
    return up.split(_UP, 1)[1].strip(), down.strip()


def run(revision_file: str, direction: str) -> None:
    """Execute one half of the SQL file that sits beside the given revision module."""
    path = Path(revision_file).with_suffix(".sql")
    up, down = sections(path)
    sql = up if direction == "up" else down
    # The raw psycopg connection runs the script as it is: no parsing of ':' or '%' as parameters.
    op.get_bind().connection.dbapi_connection.execute(sql)
