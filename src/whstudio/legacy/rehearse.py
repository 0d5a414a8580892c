"""A rehearsal of the migration on a copy: what the real run would meet, the original untouched.

The given database's public schema is dumped (pg_dump --schema-only) into a scratch database on
the same server, with a random sample of its tasks, their answers, every user they name, and the
rows of the other legacy tables that refer only to what was copied. Expand, backfill, verify and
rollback then run on the scratch copy, and the report says what the real run would meet: absent
tables, key types, rows that would be quarantined or read differently, by reason, with examples,
scaled to the whole database. The original is read in one read-only transaction and never written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from whstudio.db.embedded import pg_bin_dir
from whstudio.legacy import common, steps, verify
from whstudio.legacy.common import LEGACY_TABLES, StepRefused, connect, ident, with_db
from whstudio.legacy.queries import QUERIES, compose

EXAMPLES = 3
# What a note says once its values are taken out: `confidence "high" read as 4` is one kind.
_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|\[.*?\]|\{.*?\}|true|false')


@dataclass
class RehearsalReport:
    source_tables: dict[str, int] = field(default_factory=dict)  # rows in the original
    sampled: dict[str, int] = field(default_factory=dict)  # rows copied
    absent: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # table -> key description
    quarantined: dict[str, dict[str, Any]] = field(default_factory=dict)
    normalised: dict[str, dict[str, Any]] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)
    rollback_ok: bool = False
    refused: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """How many rows of the original one sampled answer stands for."""
        sampled = self.sampled.get("submissions") or self.sampled.get("tasks") or 0
        total = self.source_tables.get("submissions") or self.source_tables.get("tasks") or 0
        return total / sampled if sampled else 0.0

    @property
    def ok(self) -> bool:
        return self.refused is None and bool(self.verify.get("ok")) and self.rollback_ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "refused": self.refused,
            "source_tables": self.source_tables,
            "sampled": self.sampled,
            "absent_tables": self.absent,
            "keys": self.keys,
            "quarantined": self.quarantined,
            "normalised": self.normalised,
            "verify": self.verify,
            "rollback_ok": self.rollback_ok,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def _pg_dump(server_major: int) -> str:
    """The newest pg_dump on this machine (pgserver's, the system's); it must be at least as
    new as the server it reads."""
    found: dict[int, str] = {}
    candidates = [str(pg_bin_dir() / "pg_dump"), shutil.which("pg_dump") or ""]
    candidates += sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))
    for path in filter(None, candidates):
        try:
            text = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        except OSError:
            continue
        if m := re.search(r"(\d+)\.\d+", text):
            found.setdefault(int(m.group(1)), path)
    if not found or max(found) < server_major:
        raise StepRefused(
            f"rehearse needs pg_dump {server_major} or newer to copy the schema of this"
            f" PostgreSQL {server_major} server; found: {sorted(found) or 'none'}"
        )
    return found[max(found)]


def _schema_dump(url: str, server_major: int) -> str:
    """The public schema of `url` as SQL, without psql's own commands."""
    out = subprocess.run(
        [_pg_dump(server_major), "--schema-only", "--no-owner", "--no-privileges",
         "--schema=public", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    keep = [line for line in out.splitlines() if not line.startswith("\\")]
    # the scratch database has its public schema already
    return "\n".join(keep).replace(
        QUERIES["rehearse.dumped_public_schema"], QUERIES["rehearse.public_schema_if_missing"]
    )


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(QUERIES["rehearse.columns"], (f"public.{table}",)).fetchall()
    return [r[0] for r in rows]


def _foreign_keys(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """(column, referenced table) of each one-column foreign key of a legacy table."""
    return conn.execute(QUERIES["rehearse.foreign_keys"], (f"public.{table}",)).fetchall()


def _copy_sample(src: psycopg.Connection, dst: psycopg.Connection, tasks: int,
                 report: RehearsalReport) -> None:  # fmt: skip
    """Copy the sample: tasks at random, their answers, the users they name, task categories,
    then each other legacy table's rows whose foreign keys point only at copied rows."""
    present = [t for t in LEGACY_TABLES if _columns(src, t)]
    for t in present:
        count = src.execute(compose("rehearse.count", table=ident(t)))
        report.source_tables[t] = count.fetchone()[0]
    sample = [r[0] for r in src.execute(QUERIES["rehearse.sample"], (tasks,))]
    ids = sql.Literal(sample) if sample else sql.SQL(QUERIES["rehearse.no_sample"])
    chosen = {
        t: compose(f"rehearse.sampled_{t}", ids=ids).as_string(src)
        for t in ("tasks", "submissions", "users")
    }
    copied: dict[str, str] = {}  # table -> a query of its copied keys in the source
    dst.execute(QUERIES["rehearse.without_triggers"])
    for t in ("users", "task_categories", "tasks", "submissions", *present):
        if t not in present or t in copied:
            continue
        query = chosen.get(t)
        if query is None:
            where = [
                compose(
                    "rehearse.refers_to_copied",
                    column=sql.Identifier(column),
                    keys=sql.SQL(copied[parent]),
                )
                for column, parent in _foreign_keys(src, t)
                if parent in copied
            ]
            query = compose("rehearse.every_row", table=ident(t))
            if where:
                query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
            query = query.as_string(src)
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in _columns(src, t))
        n = 0
        with (
            src.cursor().copy(compose("rehearse.copy_out", query=sql.SQL(query))) as out,
            dst.cursor().copy(compose("rehearse.copy_in", table=ident(t), columns=columns)) as into,
        ):
            for chunk in out:
                into.write(chunk)
        n = dst.execute(compose("rehearse.count", table=ident(t))).fetchone()[0]
        report.sampled[t] = n
        copied[t] = (
            compose("rehearse.copied_keys", query=sql.SQL(query), table=sql.SQL(t)).as_string(src)
            if "id" in _columns(src, t)
            else ""
        )
        if not copied[t]:
            del copied[t]
    dst.execute(QUERIES["rehearse.with_triggers"])
    dst.execute(QUERIES["common.analyze"])


def _kind(note: str) -> str:
    return _VALUE.sub("…", note)


def _findings(conn: psycopg.Connection, report: RehearsalReport) -> None:
    for table, reason, raw in conn.execute(QUERIES["rehearse.quarantined"]):
        entry = report.quarantined.setdefault(table, {}).setdefault(
            _kind(reason), {"rows": 0, "examples": []}
        )
        entry["rows"] += 1
        if len(entry["examples"]) < EXAMPLES:
            entry["examples"].append({"reason": reason, "raw": (raw or "")[:300]})
    for table, notes, data in conn.execute(QUERIES["rehearse.normalised"]):
        for note in notes:
            entry = report.normalised.setdefault(table, {}).setdefault(
                _kind(note), {"rows": 0, "examples": []}
            )
            entry["rows"] += 1
            if len(entry["examples"]) < EXAMPLES:
                entry["examples"].append({"note": note, "raw": (data or "")[:300]})
    for groups in (*report.quarantined.values(), *report.normalised.values()):
        for entry in groups.values():
            entry["estimated_in_whole_database"] = round(entry["rows"] * report.scale)


def _keys(conn: psycopg.Connection) -> dict[str, str]:
    out = {}
    for table, key in common.legacy_keys(conn).items():
        if not key:
            out[table] = "none (checked by whole rows)"
            continue
        types = [
            conn.execute(QUERIES["rehearse.column_type"], (f"public.{table}", c)).fetchone()[0]
            for c in key
        ]
        out[table] = ", ".join(f"{c} {t}" for c, t in zip(key, types, strict=True))
    return out


def rehearse(
    source_url: str, *, tasks: int = 2000, scratch_url: str | None = None, keep: bool = False
) -> RehearsalReport:
    """Rehearse the migration of `source_url` on a scratch copy of its schema and a sample of
    `tasks` tasks with their answers; the scratch database is dropped unless `keep`."""
    report = RehearsalReport()
    admin = with_db(source_url, "postgres")
    dbname = psycopg.conninfo.conninfo_to_dict(source_url).get("dbname") or "postgres"
    scratch_name = f"{dbname[:40]}_whsrehearse_{os.getpid()}"
    made = scratch_url is None
    if made:
        with connect(admin) as conn:
            conn.execute(compose("common.drop_database", name=ident(scratch_name)))
            conn.execute(compose("common.create_database", name=ident(scratch_name)))
        scratch_url = with_db(source_url, scratch_name)
    try:
        started = time.monotonic()
        with psycopg.connect(source_url) as src:
            src.execute(QUERIES["rehearse.read_only"])
            if src.execute(QUERIES["rehearse.being_migrated"]).fetchone()[0] is not None:
                raise StepRefused("this database is already being migrated: rehearse a copy")
            major = src.info.server_version // 10000
            with connect(scratch_url) as dst:
                dst.execute(_schema_dump(source_url, major))
                _copy_sample(src, dst, tasks, report)
            src.rollback()
        report.seconds["copy"] = time.monotonic() - started
        try:
            t0 = time.monotonic()
            expanded = steps.expand(scratch_url)
            report.absent = expanded.absent
            report.seconds["expand"] = time.monotonic() - t0
            t0 = time.monotonic()
            steps.backfill(scratch_url)
            report.seconds["backfill"] = time.monotonic() - t0
            t0 = time.monotonic()
            report.verify = verify.verify(scratch_url, record=False).as_dict()
            report.seconds["verify"] = time.monotonic() - t0
            with connect(scratch_url) as conn:
                report.keys = _keys(conn)
                _findings(conn, report)
            t0 = time.monotonic()
            report.rollback_ok = steps.rollback(scratch_url).ok
            report.seconds["rollback"] = time.monotonic() - t0
        except StepRefused as exc:
            report.refused = str(exc)
    finally:
        if made and not keep:
            with connect(admin) as conn:
                conn.execute(compose("common.drop_database", name=ident(scratch_name)))
    return report
