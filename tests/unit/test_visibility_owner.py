"""One owner for what a caller may see of a task's consensus: `whstudio.domain.visibility`.

The source is read (ast, no database) for every place that reads a task's consensus, its
fields or relabels A/B choices; each must be the owner, the module that shapes the stored row
for it, or listed below with the reason it needs no owner, which is checked against the routes.
"""

from __future__ import annotations

import ast
import fnmatch
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from fastapi.routing import APIRoute

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "whstudio"
OWNER = "domain/visibility.py"
PRODUCER = "domain/consensus.py"  # shapes the stored row that the owner filters
# SQL, the tool that migrates an old database, and revisions: none of them answers a caller.
NOT_SERVING = ("db/", "legacy/", "migrations/")
CONSENSUS = "whstudio.domain.consensus"
TASKS = "whstudio.domain.tasks"
# Each returns a task's consensus, gold, or an answer in canonical labels.
READERS = {
    (CONSENSUS, "read"),
    (CONSENSUS, "shape"),
    (CONSENSUS, "changed_since"),
    (CONSENSUS, "event_row"),
    (TASKS, "list_tasks"),
    (TASKS, "detail"),
    (TASKS, "latest_answer"),
}
# Attributes that hand a handler such a row: `Submitted.consensus` (an answer's), `Lease.task`.
RAW_ATTRIBUTES = {"consensus", "task"}
RESPONSES = "whstudio.domain.responses"
RELABELLERS = {(RESPONSES, "to_shown"), (RESPONSES, "shown_content")}
FIELDS = {
    "final_answer",
    "crowd_final_answer",
    "consensus_reached",
    "agreement_percentage",
    "weighted_agreement_percentage",
    "count_a",
    "count_b",
    "count_tie",
    "counts",
    "has_gold",
}
# Read elsewhere as input (importers, task creation); a route or page reading it serialises gold.
WEB_FIELDS = FIELDS | {"gold_standard"}


@dataclass(frozen=True)
class Allowed:
    kind: str  # "staff": only reviewer/admin routes reach it; "offline": no route reaches it
    why: str


# Every place outside the owner that serialises consensus, keyed by (path, function) patterns.
ALLOWED = {
    ("domain/review.py", "*"): Allowed(
        "staff", "everything a reviewer needs to adjudicate, canonical labels and gold included"
    ),
    ("web/pages/admin_tasks.py", "_task_page"): Allowed(
        "staff", "an admin's page of one task's rule: the task with its gold"
    ),
    ("domain/export.py", "<module>"): Allowed(
        "staff", "the export's column list: the admin export API and page, and the CLI"
    ),
    ("domain/importing/replay_store.py", "*"): Allowed(
        "staff",
        "the replay's state, read and written for the answers import and bulk rule changes"
        " (admin API and CLI); nothing of it is returned to a caller",
    ),
    ("*simulat*", "*"): Allowed(
        "offline", "the crowd simulator answers as an annotator does, in the labels shown"
    ),
}


@dataclass(frozen=True)
class Site:
    path: str
    line: int
    function: str
    what: str

    def __str__(self) -> str:
        return f"src/whstudio/{self.path}:{self.line} in {self.function}: {self.what}"


def _module_name(rel: str) -> str:
    parts = ("whstudio", *Path(rel).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


class Module:
    """One source file: what its names refer to, its top-level functions and what they call."""

    def __init__(self, rel: str, source: str) -> None:
        self.rel = rel  # the path under src/whstudio
        self.name = _module_name(rel)
        self.tree = ast.parse(source, rel)
        self.modules: dict[str, str] = {}  # local name -> whstudio module
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        self.defined: set[str] = set()
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defined.add(node.name)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("whstudio") and alias.asname:
                        self.modules[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("whstudio"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    local = alias.asname or alias.name
                    if _is_module(full):
                        self.modules[local] = full
                    else:
                        self.imported[local] = (node.module, alias.name)

    def target(self, func: ast.expr) -> tuple[str, str] | None:
        """Return the (module, function) a call refers to, when it is one of ours."""
        if isinstance(func, ast.Name):
            if func.id in self.imported:
                return self.imported[func.id]
            if func.id in self.defined:
                return (self.name, func.id)
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in self.modules
        ):
            return (self.modules[func.value.id], func.attr)
        return None

    def functions(self):
        """Yield (top-level function or class name, node); module code is '<module>'."""
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield node.name, node
            else:
                yield "<module>", node


def _modules() -> list[Module]:
    return [
        Module(p.relative_to(PACKAGE).as_posix(), p.read_text())
        for p in sorted(PACKAGE.rglob("*.py"))
    ]


def _sites(module: Module) -> list[Site]:
    """Every place in a module that reads consensus, names a consensus field or relabels."""
    found = []
    web = module.rel.startswith("web/")
    fields = WEB_FIELDS if web else FIELDS
    for function, top in module.functions():
        owned = {
            id(arg)
            for node in ast.walk(top)
            if isinstance(node, ast.Call)
            and (module.target(node.func) or ("",))[0] == "whstudio.domain.visibility"
            for arg in [*node.args, *(k.value for k in node.keywords)]
        }
        # `await tasks.detail(...)` alone only checks that the task exists.
        discarded = {
            id(node.value.value if isinstance(node.value, ast.Await) else node.value)
            for node in ast.walk(top)
            if isinstance(node, ast.Expr)
        }
        for node in ast.walk(top):
            line = getattr(node, "lineno", 0)
            what = None
            if isinstance(node, ast.Call):
                target = module.target(node.func)
                if target in READERS and id(node) not in owned | discarded:
                    what = f"calls {target[0].rsplit('.', 1)[1]}.{target[1]}"
                elif target in RELABELLERS:
                    what = f"relabels with {target[1]}"
                elif (
                    isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get", "pop", "setdefault")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value in fields
                ):
                    what = f"reads field {node.args[0].value!r}"
            elif (
                web
                and isinstance(node, ast.Attribute)
                and node.attr in RAW_ATTRIBUTES
                and isinstance(node.ctx, ast.Load)
                and not (isinstance(node.value, ast.Name) and node.value.id in module.modules)
                and id(node) not in owned
            ):
                what = f"reads the row in .{node.attr}"
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = node.slice
                if isinstance(key, ast.Constant) and key.value in fields:
                    what = f"reads field {key.value!r}"
            elif isinstance(node, ast.Tuple | ast.List | ast.Set):
                names = [
                    e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in fields
                ]
                if names:
                    what = f"lists fields {names}"
            if what:
                found.append(Site(module.rel, line, function, what))
    return found


def _serving(module: Module) -> bool:
    return module.rel not in (OWNER, PRODUCER) and not module.rel.startswith(NOT_SERVING)


def _allowed(site: Site) -> Allowed | None:
    for (path, function), allowed in ALLOWED.items():
        if fnmatch.fnmatch(site.path, path) and fnmatch.fnmatch(site.function, function):
            return allowed
    return None


def consensus_sites() -> list[Site]:
    """Every place outside the owner that reads a task's consensus, a consensus field or
    relabels a choice."""
    return [s for m in _modules() if _serving(m) for s in _sites(m)]


def _call_graph(modules: list[Module]) -> dict[tuple[str, str], set[tuple[str, str]]]:
    calls: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for module in modules:
        for function, top in module.functions():
            for node in ast.walk(top):
                if isinstance(node, ast.Call):
                    target = module.target(node.func)
                    if target:
                        calls[(module.name, function)].add(target)
    return calls


def _roles(dependant) -> set[frozenset]:
    found = set()
    call = getattr(dependant, "call", None)
    if call is not None and hasattr(call, "roles"):
        found.add(call.roles)
    for sub in dependant.dependencies:
        found |= _roles(sub)
    return found


def _routes_reaching() -> dict[tuple[str, str], set[tuple[str, frozenset]]]:
    """For every function, the routes (path, roles admitted) whose handler may call it."""
    from whstudio.web.app import ROUTERS

    calls = _call_graph(_modules())
    reaching: dict[tuple[str, str], set[tuple[str, frozenset]]] = defaultdict(set)
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            roles = frozenset().union(*_roles(route.dependant)) or frozenset({"anyone"})
            start = (route.endpoint.__module__, route.endpoint.__name__)
            seen, todo = {start}, [start]
            while todo:
                for nxt in calls.get(todo.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            for function in seen:
                reaching[function].add((f"{sorted(route.methods)} {route.path}", roles))
    return reaching


def test_every_place_that_serialises_consensus_goes_through_the_owner():
    bypassing = [str(s) for s in consensus_sites() if _allowed(s) is None]
    assert bypassing == [], (
        "these read a task's consensus or relabel choices without "
        "whstudio.domain.visibility; call it instead (or list the place in ALLOWED with why):\n"
        + "\n".join(bypassing)
    )


def test_the_places_listed_as_needing_no_owner_are_reached_only_as_listed():
    from whstudio.domain.visibility import STAFF

    reaching = _routes_reaching()
    wrong = []
    for site in consensus_sites():
        allowed = _allowed(site)
        if allowed is None:
            continue
        module = _module_name(site.path)
        if site.function == "<module>":  # a module's constant: whatever uses the module
            nodes = [f for f in reaching if f[0] == module]
        else:
            nodes = [(module, site.function)]
        for route, roles in {r for node in nodes for r in reaching[node]}:
            if allowed.kind == "offline" or not roles <= STAFF:
                wrong.append(f"{site} is reached by {route} ({', '.join(sorted(roles))})")
    assert wrong == []


def test_the_owner_and_the_route_policies_agree_on_who_is_staff():
    from whstudio.domain.visibility import STAFF as OWNER_STAFF
    from whstudio.web.policies import STAFF

    assert OWNER_STAFF == STAFF


LEAKY_ROUTE = """
from whstudio.domain import consensus as consensus_domain
from whstudio.domain import tasks as tasks_domain
from whstudio.domain.responses import to_shown

async def leaky(conn, task_id):
    return await consensus_domain.read(conn, task_id)


def leaky_list(rows):
    return [{"winner": r["final_answer"], "a": r.get("count_a")} for r in rows]


def leaky_labels(choice, order):
    return to_shown(choice, order)


async def leaky_list(conn, filters):
    return await tasks_domain.list_tasks(conn, filters=filters)


async def leaky_submit(conn, body):
    done = await responses.submit(conn, answer=body)
    return {"gold": body["gold_standard"], "consensus": done.consensus}
"""


def test_a_new_route_serialising_consensus_directly_is_found():
    probe = Module("web/api/probe.py", LEAKY_ROUTE)
    found = {s.what for s in _sites(probe)}
    assert _serving(probe) and _allowed(Site(probe.rel, 1, "leaky", "")) is None
    assert found >= {
        "calls consensus.read",
        "reads field 'final_answer'",
        "reads field 'count_a'",
        "relabels with to_shown",
        "reads field 'gold_standard'",
        "reads the row in .consensus",
        "calls tasks.list_tasks",
    }
