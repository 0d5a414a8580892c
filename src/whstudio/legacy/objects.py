"""The public schema's objects as data, and the DDL that adds what a fresh install has and a
legacy database lacks (read from a database migrated by the Alembic revisions, not a copy)."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from whstudio.legacy.queries import QUERIES, compose


@dataclass(frozen=True)
class Column:
    type: str
    not_null: bool
    default: str | None
    generated: str
    identity: str


@dataclass(frozen=True)
class Constraint:
    kind: str
    definition: str
    validated: bool
    columns: tuple[str, ...]
    column_types: tuple[str, ...]
    references: str


@dataclass
class Catalog:
    """Every object of the public schema, keyed the way rollback and expand look them up."""

    tables: dict[str, dict[str, Column]] = field(default_factory=dict)
    constraints: dict[tuple[str, str], Constraint] = field(default_factory=dict)
    indexes: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)
    triggers: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=dict)
    sequences: dict[str, str] = field(default_factory=dict)

    def names(self) -> set[tuple[str, str]]:
        """Return (kind, name) of every object, the inventory rollback restores."""
        out = {("table", t) for t in self.tables}
        out |= {("column", f"{t}.{c}") for t, cols in self.tables.items() for c in cols}
        out |= {("constraint", f"{t}.{n}") for t, n in self.constraints}
        out |= {("index", f"{t}.{n}") for t, n in self.indexes}
        out |= {("trigger", f"{t}.{n}") for t, n in self.triggers}
        out |= {("function", f) for f in self.functions}
        out |= {("view", v) for v in self.views}
        out |= {("sequence", s) for s in self.sequences}
        return out


def read(conn: psycopg.Connection) -> Catalog:
    """Return the catalog of the public schema."""
    cat = Catalog()
    for (t,) in conn.execute(QUERIES["objects.tables"]):
        cat.tables[t] = {}
    for t, c, typ, notnull, default, gen, ident in conn.execute(QUERIES["objects.columns"]):
        cat.tables[t][c] = Column(typ, notnull, default, gen, ident)
    for t, n, kind, definition, valid, cols, types, ref in conn.execute(
        QUERIES["objects.constraints"]
    ):
        cat.constraints[(t, n)] = Constraint(
            kind, definition, valid, tuple(cols), tuple(types), ref
        )
    for t, n, definition, valid in conn.execute(QUERIES["objects.indexes"]):
        cat.indexes[(t, n)] = (definition, valid)
    for t, n, definition, enabled in conn.execute(QUERIES["objects.triggers"]):
        cat.triggers[(t, n)] = (definition, enabled)
    for sig, definition in conn.execute(QUERIES["objects.functions"]):
        cat.functions[sig] = definition
    for v, definition in conn.execute(QUERIES["objects.views"]):
        cat.views[v] = definition
    for name, typ, start, lo, hi, inc, cycle, cache in conn.execute(QUERIES["objects.sequences"]):
        cat.sequences[name] = (
            f"CREATE SEQUENCE public.{name} AS {typ} INCREMENT BY {inc} MINVALUE {lo}"
            f" MAXVALUE {hi} START WITH {start} CACHE {cache}{' CYCLE' if cycle else ''}"
        )
    return cat


@dataclass(frozen=True)
class Statement:
    """One DDL statement of the expand plan, and what it does to the legacy tables."""

    sql: str
    kind: str  # sequence, function, table, column, constraint, index, view, trigger
    target: str
    concurrent: bool = False  # CREATE INDEX CONCURRENTLY: outside a transaction
    validate: str | None = None  # the VALIDATE CONSTRAINT that follows after the backfill
    locks: str = "none on legacy tables"


def _ident(name: str) -> str:
    return sql.Identifier(name).as_string(None)


def _column_sql(name: str, col: Column, *, existing_table: bool) -> str:
    parts = [_ident(name), col.type]
    if col.generated == "s":
        parts.append(f"GENERATED ALWAYS AS ({col.default}) STORED")
    elif col.identity:
        parts.append(f"GENERATED {'ALWAYS' if col.identity == 'a' else 'BY DEFAULT'} AS IDENTITY")
    elif col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    if col.not_null and not existing_table:
        parts.append("NOT NULL")
    return " ".join(parts)


# Defaults that PostgreSQL evaluates once for ADD COLUMN (no table rewrite) look like these;
# anything else is added without a default and given it afterwards, for new rows only.
_VOLATILE = ("random", "gen_random_uuid", "nextval", "clock_timestamp", "uuid_generate")


def passes_with_nulls(conn: psycopg.Connection, con: Constraint) -> bool:
    """Whether a CHECK holds (or is unknown) for a row whose checked columns are all NULL."""
    expr = con.definition.removeprefix("CHECK ").removesuffix(" NOT VALID")
    cols = ", ".join(
        f"NULL::{t} AS {_ident(c)}" for c, t in zip(con.columns, con.column_types, strict=True)
    )
    query = compose("objects.check_with_nulls", check=sql.SQL(expr), columns=sql.SQL(cols))
    row = conn.execute(query).fetchone()
    return row[0] is not False


def expand_plan(conn: psycopg.Connection, legacy: Catalog, fresh: Catalog) -> list[Statement]:
    """Return the statements that add the fresh install's missing objects, only adding.

    Constraints that would judge the old application's writes on its own columns, NOT NULL,
    changed defaults, and anything to drop wait for contract.
    """
    out: list[Statement] = []
    new_tables = [t for t in fresh.tables if t not in legacy.tables]
    for name, ddl in sorted(fresh.sequences.items()):
        if name not in legacy.sequences:
            out.append(Statement(ddl, "sequence", name))
    for sig, ddl in sorted(fresh.functions.items()):
        if sig not in legacy.functions:
            out.append(Statement(ddl, "function", sig))
    for t in new_tables:
        cols = ",\n    ".join(
            _column_sql(c, col, existing_table=False) for c, col in fresh.tables[t].items()
        )
        out.append(Statement(f"CREATE TABLE public.{_ident(t)} (\n    {cols}\n)", "table", t))
    for t, cols in fresh.tables.items():
        if t in new_tables:
            continue
        for c, col in cols.items():
            if c in legacy.tables[t]:
                continue
            if col.generated or col.identity:
                raise ValueError(f"{t}.{c}: a generated column on an existing table rewrites it")
            volatile = col.default is not None and any(v in col.default for v in _VOLATILE)
            plain = Column(col.type, False, None if volatile else col.default, "", "")
            column = _column_sql(c, plain, existing_table=True)
            stmt = f"ALTER TABLE public.{_ident(t)} ADD COLUMN IF NOT EXISTS {column}"
            out.append(
                Statement(
                    stmt, "column", f"{t}.{c}", locks=f"ACCESS EXCLUSIVE on {t}, catalog only"
                )
            )
            if volatile:
                out.append(
                    Statement(
                        f"ALTER TABLE public.{_ident(t)} ALTER COLUMN {_ident(c)}"
                        f" SET DEFAULT {col.default}",
                        "column",
                        f"{t}.{c}",
                        locks=f"ACCESS EXCLUSIVE on {t}, catalog only",
                    )
                )
    order = {"p": 0, "u": 1, "x": 2, "c": 3, "f": 4, "t": 5}
    for (t, n), con in sorted(fresh.constraints.items(), key=lambda kv: (order[kv[1].kind], kv[0])):
        if (t, n) in legacy.constraints:
            continue
        head = f"ALTER TABLE public.{_ident(t)} ADD CONSTRAINT {_ident(n)} {con.definition}"
        ref_lock = f", SHARE ROW EXCLUSIVE on {con.references}" if con.references else ""
        if t in new_tables:
            locks = (
                f"new table{ref_lock}"
                if con.references in legacy.tables
                else "none on legacy tables"
            )
            out.append(Statement(head, "constraint", f"{t}.{n}", locks=locks))
            continue
        new_cols = all(c not in legacy.tables[t] for c in con.columns)
        validate = f"ALTER TABLE public.{_ident(t)} VALIDATE CONSTRAINT {_ident(n)}"
        if con.kind == "f" and new_cols:
            out.append(
                Statement(
                    head + " NOT VALID",
                    "constraint",
                    f"{t}.{n}",
                    validate=validate,
                    locks=f"SHARE ROW EXCLUSIVE on {t}{ref_lock}, catalog only",
                )
            )
        elif con.kind == "c" and new_cols and passes_with_nulls(conn, con):
            out.append(
                Statement(
                    head + " NOT VALID",
                    "constraint",
                    f"{t}.{n}",
                    validate=validate,
                    locks=f"ACCESS EXCLUSIVE on {t}, catalog only",
                )
            )
    for (t, n), (ddl, _valid) in sorted(fresh.indexes.items()):
        # an invalid one is the leftover of an interrupted build: planned again, to be rebuilt
        if (t, n) in legacy.indexes and legacy.indexes[(t, n)][1]:
            continue
        if t in new_tables:
            out.append(Statement(ddl, "index", f"{t}.{n}"))
        else:
            ddl = ddl.replace(" INDEX ", " INDEX CONCURRENTLY ", 1)
            out.append(
                Statement(
                    ddl,
                    "index",
                    f"{t}.{n}",
                    concurrent=True,
                    locks=f"SHARE UPDATE EXCLUSIVE on {t} (reads, writes go on)",
                )
            )
    for v, ddl in sorted(fresh.views.items()):
        if v not in legacy.views:
            out.append(Statement(f"CREATE VIEW public.{_ident(v)} AS\n{ddl}", "view", v))
    for (t, n), (ddl, _enabled) in sorted(fresh.triggers.items()):
        if (t, n) in legacy.triggers:
            continue
        if t in new_tables:
            out.append(Statement(ddl, "trigger", f"{t}.{n}"))
        else:
            # The fresh install's rules on a legacy table would judge the old application's
            # writes: created disabled, enabled by contract.
            disable = f"ALTER TABLE public.{_ident(t)} DISABLE TRIGGER {_ident(n)}"
            out.append(
                Statement(
                    f"{ddl};\n{disable}",
                    "trigger",
                    f"{t}.{n}",
                    locks=f"SHARE ROW EXCLUSIVE on {t}, catalog only",
                )
            )
    return out
