"""The migration's steps: expand, backfill, switch, rollback, and where a database stands."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from whstudio.db import catalog as db_catalog
from whstudio.db import migrate, readpath
from whstudio.legacy import common, ddl, objects
from whstudio.legacy.common import LEGACY_TABLES, StepRefused, connect, ident, legacy_columns, state
from whstudio.legacy.queries import QUERIES, compose
from whstudio.legacy.verify import checksum_differences, normalised_counts

# ---------------------------------------------------------------- reference (fresh install)


def fresh_catalog(url: str, reference_url: str | None = None) -> objects.Catalog:
    """Return the catalog of a fresh install at head, built by the Alembic revisions themselves.

    Without reference_url a scratch database is created beside the legacy one and dropped after.
    """
    if reference_url:
        migrate.upgrade(reference_url, "head")
        with connect(reference_url) as conn:
            return objects.read(conn)
    dbname = conninfo_to_dict(url).get("dbname") or "postgres"
    scratch = f"{dbname[:40]}_whsref_{os.getpid()}"
    admin = common.with_db(url, "postgres")
    with connect(admin) as conn:
        conn.execute(compose("common.drop_database", name=ident(scratch)))
        conn.execute(compose("common.create_database", name=ident(scratch)))
    try:
        ref = common.with_db(url, scratch)
        migrate.upgrade(ref, "head")
        with connect(ref) as conn:
            return objects.read(conn)
    finally:
        with connect(admin) as conn:
            conn.execute(compose("common.drop_database", name=ident(scratch)))


# ---------------------------------------------------------------- baseline


def _install_schema(conn: psycopg.Connection) -> None:
    text = resources.files("whstudio.legacy").joinpath("migration.sql").read_text("utf-8")
    with conn.transaction():
        conn.execute(text)


def _baseline_taken(conn: psycopg.Connection) -> bool:
    return conn.execute(QUERIES["steps.baseline_taken"]).fetchone()[0]


def _check_required(cat: objects.Catalog) -> None:
    missing = [t for t in common.REQUIRED_TABLES if t not in cat.tables]
    if missing:
        raise StepRefused(f"not a legacy database: no table {', '.join(missing)}")
    if "questions" in cat.tables:
        raise StepRefused("this database already has the new schema (table questions)")
    for t in common.REQUIRED_TABLES:
        keyed = [k for (table, _), k in cat.constraints.items() if table == t and k.kind == "p"]
        column = cat.tables[t].get("id")
        if column is None or column.type != "uuid" or [k.columns for k in keyed] != [("id",)]:
            got = column.type if column else "no id column"
            raise StepRefused(
                f"{t} must be keyed by a uuid column id, as the migration's new schema keys it"
                f" (found: {got}); this database is not one the migration can take"
            )


def _baseline_tables(conn: psycopg.Connection, tables: list[str]) -> None:
    """Record the tables' columns and keys, log their writes, then checksum their rows."""
    with conn.transaction():
        conn.execute(QUERIES["steps.record_legacy_columns"], (tables,))
    keys = common.legacy_keys(conn)
    # Every write from here on is logged before the checksums' snapshot is taken, so a row
    # either has its checksum from before or a log entry (or both).
    for t in tables:
        args = sql.SQL(", ").join(sql.Literal(c) for c in keys[t])
        ddl.run(conn, compose("steps.log_changes", table=ident(t), key=args).as_string(conn))
    cols = legacy_columns(conn)
    with conn.transaction():
        conn.execute(QUERIES["steps.repeatable_read"])
        for t in tables:
            digests = common.digest_sql(t, cols[t], keys[t])
            conn.execute(compose("steps.record_checksums", table=sql.Literal(t), digests=digests))


def _take_baseline(conn: psycopg.Connection, url: str) -> list[str]:
    """Record the legacy catalog, columns and keys, install the change log, then checksum every
    row; return the known legacy tables this deployment does not have."""
    cat = objects.read(conn)
    _check_required(cat)
    present = [t for t in LEGACY_TABLES if t in cat.tables]
    lines = db_catalog.describe(url, skip_tables=())
    with conn.transaction():
        for table in (
            "baseline_objects",
            "baseline_catalog",
            "legacy_columns",
            "checksums",
            "changes",
            "progress",
            "quarantine",
            "validations",
            "normalised",
        ):
            conn.execute(compose("steps.truncate", table=ident(table)))
        with conn.cursor().copy(QUERIES["steps.copy_baseline_objects"]) as cp:
            for kind, name in sorted(cat.names()):
                cp.write_row((kind, name))
        with conn.cursor().copy(QUERIES["steps.copy_baseline_catalog"]) as cp:
            for line in sorted(set(lines)):
                cp.write_row((line,))
    _baseline_tables(conn, present)
    return [t for t in LEGACY_TABLES if t not in cat.tables]


def _catalog_lines_of(lines: list[str], adopted: set[tuple[str, str]]) -> list[str]:
    """The catalog description's lines that describe the adopted objects."""
    tables = {name for kind, name in adopted if kind == "table"}
    out = []
    for line in lines:
        kind, _, rest = line.partition(" ")
        fields = rest.split(" | ")
        if kind == "function":
            name = ("function", f"{fields[0]}({fields[1]})")
        elif kind in ("view", "sequence", "table"):
            name = (kind, fields[0])
        else:
            name = (kind, f"{fields[0]}.{fields[1]}")
        if name in adopted or (kind != "function" and fields[0] in tables):
            out.append(line)
    return out


def _adopt_appeared(conn: psycopg.Connection, url: str, fresh: objects.Catalog) -> list[str]:
    """Take legacy tables that appeared since the baseline into it, with every object the
    script that made them added (a trigger on users, its function): rollback then keeps them
    and their rows are checked like the others'. Return the tables adopted."""
    appeared = common.appeared_tables(conn)
    if not appeared:
        return []
    cat = objects.read(conn)
    base = set(conn.execute(QUERIES["steps.baseline_objects"]).fetchall())
    adopted = {
        (kind, name)
        for kind, name in cat.names() - base - fresh.names()
        if not name.rpartition(".")[2].startswith("whs_legacy")
    }
    lines = _catalog_lines_of(db_catalog.describe(url, skip_tables=()), adopted)
    with conn.transaction():
        with conn.cursor().copy(QUERIES["steps.copy_baseline_objects"]) as cp:
            for kind, name in sorted(adopted):
                cp.write_row((kind, name))
        with conn.cursor().copy(QUERIES["steps.copy_baseline_catalog"]) as cp:
            for line in sorted(set(lines)):
                cp.write_row((line,))
    _baseline_tables(conn, appeared)
    return appeared


# ---------------------------------------------------------------- expand


@dataclass
class ExpandReport:
    statements: list[objects.Statement] = field(default_factory=list)
    indexes: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    seconds: float = 0.0
    # Known legacy tables this deployment does not have (left alone, checked as absent), and
    # tables that appeared since the baseline and were taken into it by this run.
    absent: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)


# (table, name, timing, function, condition): ours, and one that lends the fresh install's own
# tasks_sync_consensus() to tasks that had a question before and after the change.
DUAL_WRITE_TRIGGERS = (
    ("tasks", "whs_legacy_dual_write", "BEFORE INSERT OR UPDATE",
     "whs_legacy.tasks_dual_write_v1", None),
    ("tasks", "whs_legacy_dual_write_after", "AFTER INSERT OR UPDATE",
     "whs_legacy.tasks_dual_write_after_v1", None),
    ("tasks", "whs_legacy_sync_consensus", "AFTER UPDATE", "public.tasks_sync_consensus",
     "OLD.question_id IS NOT NULL AND NEW.question_id IS NOT NULL"),
    ("submissions", "whs_legacy_dual_write", "BEFORE INSERT OR UPDATE",
     "whs_legacy.submissions_dual_write_v1", None),
    ("submissions", "whs_legacy_dual_write_after", "AFTER INSERT OR UPDATE OR DELETE",
     "whs_legacy.submissions_dual_write_after_v1", None),
)  # fmt: skip


def plan(url: str, *, reference_url: str | None = None) -> list[objects.Statement]:
    """Return what expand would run now (nothing once it ran)."""
    fresh = fresh_catalog(url, reference_url)
    with connect(url) as conn:
        return objects.expand_plan(conn, objects.read(conn), fresh)


def apply_statements(
    conn: psycopg.Connection, statements: list[objects.Statement], report: ExpandReport
):
    """Run statements, retrying the ones whose dependencies come later in the list."""
    pending = list(statements)
    while pending:
        deferred: list[objects.Statement] = []
        last: Exception | None = None
        for st in pending:
            try:
                if st.concurrent:
                    report.indexes[st.target] = ddl.create_index_concurrently(conn, st.sql)
                else:
                    report.retries += ddl.run(conn, st.sql) - 1
                if st.validate:
                    conn.execute(QUERIES["steps.record_validation"], (st.target, st.validate))
                report.statements.append(st)
            except ddl.DEPENDENCY_ERRORS as exc:
                deferred.append(st)
                last = exc
        if len(deferred) == len(pending):
            raise RuntimeError(f"expand cannot create {deferred[0].target}: {last}") from last
        pending = deferred


def _seed_table(conn: psycopg.Connection) -> None:
    """(Re)create whs_legacy.consensus_seed shaped like tasks, firing the fresh install's
    tasks_create_consensus() for every row copied into it."""
    want = conn.execute(QUERIES["steps.columns_of"], ("public.tasks",)).fetchone()[0]
    have = conn.execute(QUERIES["steps.columns_of"], ("whs_legacy.consensus_seed",)).fetchone()[0]
    if want == have:
        return
    ddl.run(conn, QUERIES["steps.seed_table"])


def expand(url: str, *, reference_url: str | None = None) -> ExpandReport:
    """Add everything the fresh install has and the legacy schema lacks, plus the dual writes."""
    started = time.time()
    report = ExpandReport()
    with connect(url) as conn:
        st = state(conn)
        if st and st["step"] == "contracted":
            raise StepRefused("this database was already contracted")
        _install_schema(conn)
        if st is None or st["step"] == "rolled_back" or not _baseline_taken(conn):
            _take_baseline(conn, url)
        fresh = fresh_catalog(url, reference_url)
        report.adopted = _adopt_appeared(conn, url, fresh)
        report.absent = [t for t in LEGACY_TABLES if t not in legacy_columns(conn)]
        apply_statements(conn, objects.expand_plan(conn, objects.read(conn), fresh), report)
        _seed_table(conn)
        existing = objects.read(conn).triggers
        # All at once: a row written between a BEFORE and its AFTER trigger would be migrated
        # without its consensus.
        create = []
        for table, name, timing, func, condition in DUAL_WRITE_TRIGGERS:
            if (table, name) in existing:
                continue
            guard = sql.SQL(f" WHEN ({condition})" if condition else "")
            create.append(
                compose(
                    "steps.dual_write_trigger",
                    name=ident(name),
                    timing=sql.SQL(timing),
                    table=ident(table),
                    guard=guard,
                    function=sql.Identifier(*func.split(".")),
                ).as_string(conn)
            )
        if create:
            ddl.run(conn, ";\n".join(create))
        report.seconds = time.time() - started
        with conn.transaction():
            if st is None or st["step"] in ("rolled_back", "expanded"):
                common.set_step(conn, "expanded", head=migrate.head_revision())
            common.record(
                conn,
                "expand",
                started,
                True,
                {
                    "statements": len(report.statements),
                    "retries": report.retries,
                    "absent_tables": report.absent,
                    "adopted_tables": report.adopted,
                },
            )
    return report


# ---------------------------------------------------------------- backfill


@dataclass
class Phase:
    name: str
    migrated: int
    quarantined: int
    total: int
    finished: bool


def _phase_row(conn: psycopg.Connection, phase: str) -> Phase:
    table = "tasks" if phase == "tasks" else "submissions"
    pending = sql.SQL(QUERIES[f"steps.{table}_pending"])
    conn.execute(compose("steps.start_phase", table=ident(table), pending=pending), (phase,))
    m, q, total, fin = conn.execute(QUERIES["steps.phase"], (phase,)).fetchone()
    return Phase(phase, m, q, total, fin)


def backfill(
    url: str,
    *,
    batch: int = 500,
    rate: float | None = None,
    on_progress: Callable[[Phase], None] | None = None,
    max_batches: int | None = None,
    explain: Callable[[str, list[str]], None] | None = None,
) -> list[Phase]:
    """Migrate every row that existed before expand, in keyset batches; resumable at any point.

    Each batch and its progress row commit together, so a kill loses at most the batch in flight
    and a rerun starts after the last committed one. `rate` caps rows per second. `explain`, when
    given, gets the executed plans (EXPLAIN ANALYZE, BUFFERS, through auto_explain; superuser
    only) of every statement of each phase's first batch.
    """
    started = time.time()
    done: list[Phase] = []
    batches = 0
    with connect(url) as conn:
        common.require(conn, ("expanded", "backfilled", "verified"), "backfill")
        if conn.execute(QUERIES["steps.batch_functions_missing"]).fetchone()[0]:
            # expanded by an earlier version: this one's batch functions. Only then: replacing
            # the functions the dual-write triggers call makes every session recompile them.
            _install_schema(conn)
        # Statistics for the columns expand added (none yet: the planner would take every row
        # for migrated). ANALYZE reads a sample and blocks no reads or writes.
        for table in ("tasks", "submissions"):
            ddl.run(conn, QUERIES[f"steps.analyze_{table}"])
        _drain(conn)  # what a killed run left queued
        for phase in ("tasks", "submissions"):
            p = _phase_row(conn, phase)
            plans: list[str] | None = [] if explain else None
            while not p.finished:
                if max_batches is not None and batches >= max_batches:
                    return done
                t0 = time.monotonic()
                seen, row = _retrying(
                    lambda ph=phase, pl=plans: _batch_and_progress(conn, ph, batch, pl)
                )
                if explain and plans is not None:
                    explain(phase, plans)
                    plans = None
                _drain(conn)
                p = Phase(phase, *row)
                batches += 1
                if on_progress:
                    on_progress(p)
                if rate and seen:
                    time.sleep(max(0.0, seen / rate - (time.monotonic() - t0)))
            done.append(p)
        for name, statement in conn.execute(QUERIES["steps.pending_validations"]).fetchall():
            ddl.run(conn, statement)
            conn.execute(QUERIES["steps.validated"], (name,))
        ddl.run(conn, QUERIES["steps.analyze_backfilled"])
        with conn.transaction():
            if state(conn)["step"] == "expanded":
                common.set_step(conn, "backfilled")
            counts = {p.name: {"migrated": p.migrated, "quarantined": p.quarantined} for p in done}
            common.record(conn, "backfill", started, True, counts)
    return done


_RETRYABLE = (
    errors.LockNotAvailable,
    errors.DeadlockDetected,
    errors.SerializationFailure,
    errors.UniqueViolation,  # a consensus row the application made meanwhile: the retry sees it
)


def _retrying(work: Callable[[], Any], attempts: int = 200) -> Any:
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except _RETRYABLE:
            if attempt == attempts:
                raise
            time.sleep(min(0.5, 0.01 * attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def _batch_and_progress(
    conn: psycopg.Connection, phase: str, limit: int, plans: list[str] | None = None
) -> tuple[int, tuple]:
    with conn.transaction():
        conn.execute(QUERIES["steps.backfill_settings"])
        if plans is not None:
            plans.clear()  # a retried batch: only the plans of the one that committed
            try:
                with conn.transaction():  # a savepoint: a server without the module goes on
                    conn.execute(QUERIES["steps.load_auto_explain"])
            except psycopg.Error:
                plans.append("(auto_explain cannot be loaded on this server: no plans)")
                plans = None
            else:
                conn.execute(QUERIES["steps.explain_batch"])
        handler = (lambda d: plans.append(d.message_primary or "")) if plans is not None else None
        if handler:
            conn.add_notice_handler(handler)
        try:
            seen = _batch(conn, phase, limit)
        finally:
            if handler:
                conn.remove_notice_handler(handler)
        row = conn.execute(QUERIES["steps.phase"], (phase,)).fetchone()
    return seen, row


def _drain(conn: psycopg.Connection, chunk: int = 20) -> int:
    """Make and recompute the queued tasks' consensus, a few tasks per short transaction."""
    total = 0

    def one() -> int:
        with conn.transaction():
            conn.execute(QUERIES["steps.backfill_settings"])
            return conn.execute(QUERIES["steps.drain"], (chunk,)).fetchone()[0]

    while n := _retrying(one):
        total += n
    return total


def _batch(conn: psycopg.Connection, phase: str, limit: int) -> int:
    (after,) = conn.execute(QUERIES["steps.resume_after"], (phase,)).fetchone()
    fn = "backfill_tasks_v2" if phase == "tasks" else "backfill_submissions_v2"
    last, migrated, quarantined, seen = conn.execute(
        compose("steps.batch", function=ident(fn)), (after, limit)
    ).fetchone()
    conn.execute(
        QUERIES["steps.advance"],
        {"last": last, "m": migrated, "q": quarantined, "seen": seen, "phase": phase},
    )
    return seen


# ---------------------------------------------------------------- switch


def switch(url: str, path: str) -> str:
    """Point the application's reads at the old or the new structure; return the previous one."""
    if path not in ("old", "new"):
        raise ValueError("path: must be old or new")
    with connect(url) as conn:
        allowed = ("verified",) if path == "new" else ("expanded", "backfilled", "verified")
        st = common.require(conn, allowed, f"switch {path}")
        with conn.transaction():
            conn.execute(QUERIES["steps.switch"], (path,))
            common.record(conn, "switch", time.time(), True, {"from": st["read_path"], "to": path})
        return st["read_path"]


# ---------------------------------------------------------------- rollback


@dataclass
class RollbackReport:
    dropped: list[str] = field(default_factory=list)
    catalog_diff: list[str] = field(default_factory=list)
    checksum_problems: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.catalog_diff and not self.checksum_problems


def rollback(url: str) -> RollbackReport:
    """Remove everything the migration added to the public schema and prove the legacy schema
    and every legacy row as they were (rows the old application wrote since excepted)."""
    started = time.time()
    report = RollbackReport()
    with connect(url) as conn:
        common.require(conn, ("expanded", "backfilled", "verified", "rolled_back"), "rollback")
        base = set(conn.execute(QUERIES["steps.baseline_objects"]).fetchall())
        cat = objects.read(conn)
        extra = cat.names() - base
        # The application must read the old structure before the new one goes: every app
        # process sees the flag within readpath.CACHE_SECONDS.
        flipped = conn.execute(QUERIES["steps.read_old_path"]).fetchone()
        if flipped:
            time.sleep(readpath.CACHE_SECONDS)

        def drop(statement: sql.Composable, what: str) -> None:
            ddl.run(conn, statement.as_string(conn))
            report.dropped.append(what)

        def split(name: str) -> tuple[str, str]:
            table, _, obj = name.partition(".")
            return table, obj

        base_tables = {n for k, n in base if k == "table"}
        for kind, name in sorted(extra):
            if kind == "trigger" and split(name)[0] in base_tables:
                t, n = split(name)
                drop(compose("ddl.drop_trigger", name=ident(n), table=ident(t)), f"trigger {name}")
        for kind, name in sorted(extra):
            if kind == "view":
                drop(compose("steps.drop_view", name=ident(name)), f"view {name}")
        for kind, name in sorted(extra):
            if kind == "index" and split(name)[0] in base_tables:
                conn.execute(compose("ddl.drop_index", name=ident(split(name)[1])))
                report.dropped.append(f"index {name}")
        for kind, name in sorted(extra):
            if kind == "constraint" and split(name)[0] in base_tables:
                t, n = split(name)
                drop(
                    compose("ddl.drop_constraint", table=ident(t), name=ident(n)),
                    f"constraint {name}",
                )
        columns: dict[str, list[str]] = {}
        for kind, name in sorted(extra):
            if kind == "column" and split(name)[0] in base_tables:
                columns.setdefault(split(name)[0], []).append(split(name)[1])
        for t, cols in columns.items():
            drops = sql.SQL(", ").join(compose("steps.drop_column", column=ident(c)) for c in cols)
            drop(
                compose("ddl.alter_table", table=ident(t), actions=drops),
                f"columns {t}.{','.join(cols)}",
            )
        for kind, name in sorted(extra):
            if kind == "table":
                drop(compose("steps.drop_table", name=ident(name)), f"table {name}")
        for kind, name in sorted(extra):
            if kind == "function":
                drop(compose("steps.drop_function", signature=sql.SQL(name)), f"function {name}")
        for kind, name in sorted(extra):
            if kind == "sequence":
                drop(compose("steps.drop_sequence", name=ident(name)), f"sequence {name}")
        baseline = [r[0] for r in conn.execute(QUERIES["steps.baseline_catalog"])]
        now = db_catalog.describe(url, skip_tables=())
        import difflib

        report.catalog_diff = list(
            difflib.unified_diff(sorted(baseline), sorted(now), "before", "after", lineterm="")
        )
        report.checksum_problems = checksum_differences(conn)
        with conn.transaction():
            if report.ok:
                common.set_step(conn, "rolled_back")
            common.record(
                conn,
                "rollback",
                started,
                report.ok,
                {
                    "dropped": len(report.dropped),
                    "catalog_diff": len(report.catalog_diff),
                    "checksums": report.checksum_problems,
                },
            )
    return report


def status(url: str) -> dict[str, Any]:
    """Return the recorded step, read path, backfill progress and quarantine counts."""
    with connect(url) as conn:
        st = state(conn)
        if st is None:
            return {"step": None}
        progress = [
            dict(zip(("phase", "migrated", "quarantined", "total", "finished_at"), r, strict=True))
            for r in conn.execute(QUERIES["steps.progress"])
        ]
        quarantine = dict(conn.execute(QUERIES["verify.quarantined"]).fetchall())
        return {
            **st,
            "progress": progress,
            "quarantine": quarantine,
            "normalised": normalised_counts(conn),
        }
