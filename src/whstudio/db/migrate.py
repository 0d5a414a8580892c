"""Schema revisions: upgrade, downgrade, where a database stands."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from whstudio.db.queries import QUERIES


def _config(url: str) -> Config:
    here = Path(str(resources.files("whstudio.migrations")))
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("version_locations", str(here / "versions"))
    cfg.attributes["whstudio_url"] = url
    return cfg


def head_revision() -> str:
    """Return the newest revision the code knows."""
    script = ScriptDirectory.from_config(_config("postgresql://unused"))
    head = script.get_current_head()
    assert head is not None
    return head


def revisions() -> list[str]:
    """Return every revision id, oldest first."""
    script = ScriptDirectory.from_config(_config("postgresql://unused"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current_revision(url: str) -> str | None:
    """Return the revision a database is at, or None for an empty one."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute(QUERIES["migrate.version_table"]).fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute(QUERIES["migrate.version"]).fetchone()
        return row[0] if row else None


def upgrade(url: str, target: str = "head") -> None:
    """Apply revisions up to the target."""
    command.upgrade(_config(url), target)


def downgrade(url: str, target: str) -> None:
    """Undo revisions down to the target ('base' empties the schema)."""
    command.downgrade(_config(url), target)
