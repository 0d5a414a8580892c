"""The shape of the source tree: floors that import only downwards, no import circle, SQL only
where it belongs, and a README tree that names every package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "whstudio"

# Each top-level part of the package and its floor: a module may import its own floor or lower.
FLOORS = {
    "__init__": 0,
    "settings": 0,
    "errors": 0,
    "schemas": 0,
    "db": 1,
    "migrations": 1,
    "domain": 2,
    "legacy": 3,
    "workers": 3,
    "simulation": 3,
    "web": 4,
    "cli": 4,
    "__main__": 5,
}

# Where SQL text may be written in Python: the database layer and the legacy tool (whose DDL is
# generated per deployment). Everything else runs named blocks from db/sql/*.sql.
SQL_HOMES = ("db/", "legacy/")
# Even there, SQL lives in named blocks (db/sql/, legacy/sql/); what stays in Python is the DDL
# the legacy tool generates per deployment from the catalogs it reads: f-strings in these
# functions, and nowhere else.
GENERATED_DDL = {
    "legacy/objects.py": {"read", "expand_plan"},  # a sequence's DDL; expand's plan
    "legacy/contract.py": {"contract"},  # its report names the indexes it dropped
}

_SQL_START = re.compile(
    r"""^\s*\(?\s*(
        SELECT\s | INSERT\s+INTO\s | UPDATE\s+[\w.]+\s+SET\s | DELETE\s+FROM\s | WITH\s+\w+\s+AS\s
      | (CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+|UNIQUE\s+|UNLOGGED\s+)?
        (TABLE|INDEX|FUNCTION|TRIGGER|VIEW|DATABASE|SCHEMA|SEQUENCE)\b
      | (UN)?LISTEN\s | NOTIFY\s | COPY\s+\w+ | SET\s+(LOCAL\s+|SESSION\s+)?\w+\s*(=|TO\s)
      | SET\s+TRANSACTION\s | RESET\s+\w+ | LOAD\s+'
      | ANALYZE\s | VACUUM\b | TRUNCATE\s | LOCK\s+TABLE\s | EXPLAIN\b | DECLARE\s+\w+\s+CURSOR
    )""",
    re.VERBOSE,
)
# Fragments of a query built in pieces: a join, a filter, an order.
_SQL_FRAGMENT = re.compile(
    r"\b(FROM\s+\w+\s+\w+\s+JOIN|\s(JOIN|LEFT JOIN)\s+\w+\s+\w+\s+ON\s|ORDER BY\s+\S+\s+(ASC|DESC)"
    r"|\w+\s*(=|<|>|<=|>=|IS DISTINCT FROM)\s*%\(\w+\)s)"
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported module, line, at top level) for every whstudio import of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                targets.append(full if full in modules else module)
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            if target.startswith("whstudio") and target in modules and target != name:
                found.append((target, node.lineno, id(node) in top))
    return found


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS[parts[1] if len(parts) > 1 else "__init__"]


def test_every_part_of_the_package_has_a_floor():
    parts = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if not p.name.startswith(".")}
    parts = {p for p in parts if (SRC / p).is_dir() and (SRC / p / "__init__.py").exists()} | {
        p.stem for p in SRC.glob("*.py")
    }
    assert parts - set(FLOORS) == set(), "give each new module or package a floor in FLOORS"


def test_imports_point_down():
    modules = _modules()
    climbing = [
        f"{name} (floor {_floor(name)}) imports {target} (floor {_floor(target)}) at line {line}"
        for name, path in modules.items()
        for target, line, _ in _imports(name, path, modules)
        if _floor(target) > _floor(name)
    ]
    assert climbing == []


def test_no_import_circle_and_none_hidden_in_a_function_or_at_the_bottom():
    modules = _modules()
    graph = {name: set() for name in modules}
    late = []
    for name, path in modules.items():
        body_ends = None
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defs = [n.lineno for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        body_ends = min(defs) if defs else None
        for target, line, at_top in _imports(name, path, modules):
            graph[name].add(target)
            if at_top and body_ends is not None and line > body_ends:
                late.append(f"{name}:{line} imports {target} below its first definition")
    assert late == []
    circles = _circles(graph)
    assert circles == [], f"import circles: {circles}"


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _sql_constants(path: Path) -> list[tuple[int, str, str | None, bool]]:
    """(line, text, innermost function, whether part of an f-string) of every string constant
    that reads as SQL, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    found = []

    def visit(node: ast.AST, function: str | None, formatted: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        formatted = formatted or isinstance(node, ast.JoinedStr)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            if _SQL_START.match(text) or _SQL_FRAGMENT.search(text):
                found.append((node.lineno, " ".join(text.split())[:60], function, formatted))
        for child in ast.iter_child_nodes(node):
            visit(child, function, formatted)

    visit(tree, None, False)
    return found


def sql_literals(path: Path) -> list[tuple[int, str]]:
    return [(line, text) for line, text, _, _ in _sql_constants(path)]


def static_sql(path: Path, generated: set[str]) -> list[tuple[int, str]]:
    """The SQL of a module of db/ or legacy/ that belongs in a named block: every string
    constant that reads as SQL, but for f-strings in the functions `generated`."""
    return [
        (line, text)
        for line, text, function, formatted in _sql_constants(path)
        if not (formatted and function in generated)
    ]


def test_the_sql_detector_sees_sql_and_not_prose(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""SELECT this docstring is prose."""\n'
        'A = "SELECT id FROM tasks WHERE id = %(id)s"\n'
        'B = "Select a task to answer"\n'
        'C = "t.status = %(status)s"\n'
        'D = "LOCK TABLE consensus_batch_results IN SHARE MODE"\n'
        'E = "Update your password"\n'
        'F = f"CREATE TEMP TABLE {name} AS SELECT 1"\n'
        'G = "task_status = %(status)s"\n'
        'H = "See %(name)s for details"\n'
    )
    assert sorted(line for line, _ in sql_literals(sample)) == [2, 4, 5, 7, 8]


def test_the_detector_sees_the_statements_of_a_migration(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'A = "UPDATE whs_legacy.progress SET last_id = %s"\n'
        'B = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"\n'
        'C = "RESET lock_timeout"\n'
        "D = \"LOAD 'auto_explain'\"\n"
        'E = "CREATE OR REPLACE TRIGGER t AFTER INSERT ON public.users"\n'
        'F = "DROP SEQUENCE IF EXISTS public.s"\n'
        'G = ("ANALYZE", "BUFFERS")\n'
        'H = "Reset the password"\n'
    )
    assert sorted(line for line, _ in sql_literals(sample)) == [1, 2, 3, 4, 5, 6]


def test_the_static_sql_detector_allows_generated_ddl_only(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""SELECT this docstring is prose."""\n'
        'A = "SELECT 1 FROM users WHERE id = %(id)s"\n'
        "def plan(t):\n"
        '    """ALTER TABLE in a docstring is prose."""\n'
        '    yield f"ALTER TABLE public.{t} ADD COLUMN x int"\n'
        '    yield "DROP TABLE IF EXISTS public.t"\n'
        "def run(t):\n"
        '    return f"ALTER TABLE public.{t} ADD COLUMN x int"\n'
    )
    assert [line for line, _ in static_sql(sample, {"plan"})] == [2, 6, 8]


def test_no_sql_outside_the_database_layer():
    outside = [
        f"{path.relative_to(SRC)}:{line}: {text}"
        for path in sorted(SRC.rglob("*.py"))
        if not path.relative_to(SRC).as_posix().startswith(SQL_HOMES)
        for line, text in sql_literals(path)
    ]
    assert outside == []


def test_no_static_sql_in_the_database_layer():
    static = [
        f"{relative}:{line}: {text}"
        for path in sorted(SRC.rglob("*.py"))
        if (relative := path.relative_to(SRC).as_posix()).startswith(SQL_HOMES)
        for line, text in static_sql(path, GENERATED_DDL.get(relative, set()))
    ]
    assert static == [], "put these statements in named blocks (db/sql/, legacy/sql/)"


def test_the_readme_tree_names_every_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = readme.split("```\nsrc/whstudio/\n", 1)[1].split("```", 1)[0]
    packages = sorted(
        path.parent.relative_to(SRC).as_posix()
        for path in SRC.rglob("__init__.py")
        if path.parent != SRC and "versions" not in path.parts
    )
    missing = [
        p for p in packages if not re.search(rf"(^|\s){re.escape(p.split('/')[-1])}/", tree, re.M)
    ]
    assert missing == [], f"packages missing from the README's tree: {missing}"


def test_a_block_may_include_another_once_written():
    from whstudio.db import queries

    blocks = {"a.shared": "x AS (SELECT 1)", "a.one": "WITH\n-- include: a.shared\nSELECT 2"}
    assert queries._included(blocks, "a.one", ()) == "WITH\nx AS (SELECT 1)\nSELECT 2"
    with pytest.raises(RuntimeError, match="does not exist"):
        queries._included({"a.one": "-- include: a.none"}, "a.one", ())
    with pytest.raises(RuntimeError, match="includes itself"):
        queries._included({"a.one": "-- include: a.one"}, "a.one", ())
    # the export writes and counts what it leaves out from one verdict rule
    assert queries.QUERIES["export.preferences"].count("verdicts AS (") == 1
    assert queries.QUERIES["export.preferences_left_out"].count("verdicts AS (") == 1
