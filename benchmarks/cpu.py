"""CPU seconds used by the parts under test (app, PostgreSQL, load generator), read from /proc.

Everything runs on one machine, so throughput depends on how the cores are shared; CPU time per
operation does not, and says where a request's cost goes. PostgreSQL's figure is the whole
server's: its live processes plus the backends that exited meanwhile (their time is added to the
postmaster's children counters when it reaps them), so a pgbench run's short-lived backends
count too. Other databases' work on the same server would count as well: run benchmarks alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _own(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _reaped(fields: list[str]) -> float:
    return (int(fields[13]) + int(fields[14])) / _TICK  # cutime + cstime


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None:
                tree.setdefault(int(fields[1]), []).append(int(name))
    return tree


def tree_seconds(root: int) -> float:
    """CPU seconds of a process and all its live descendants, plus what they reaped."""
    tree = _children()
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        fields = _stat(pid)
        if fields is not None:
            total += _own(fields) + _reaped(fields)
        todo.extend(tree.get(pid, []))
    return total


def parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


@dataclass
class Meter:
    """Reads the CPU seconds of the app's process tree, the PostgreSQL server and this process."""

    app_pid: int | None
    postmaster_pid: int | None

    def read(self) -> dict[str, float]:
        own = _stat(os.getpid())
        return {
            "app": tree_seconds(self.app_pid) if self.app_pid else float("nan"),
            "db": tree_seconds(self.postmaster_pid) if self.postmaster_pid else float("nan"),
            "loadgen": _own(own) if own else float("nan"),
            # subprocesses this process ran to the end (pgbench)
            "finished_children": _reaped(own) if own else float("nan"),
        }


async def postmaster_pid(conn) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (else None)."""
    cur = await conn.execute("SELECT pg_backend_pid() AS pid")
    row = await cur.fetchone()
    backend = row["pid"] if isinstance(row, dict) else row[0]
    parent = parent_of(backend)
    if parent is None:
        return None
    fields = _stat(parent)
    return parent if fields is not None else None


def per_operation(before: dict[str, float], after: dict[str, float], count: int) -> dict:
    """Microseconds of CPU per operation, by part."""
    if count <= 0:
        return {k: float("nan") for k in before}
    return {k: 1e6 * (after[k] - before[k]) / count for k in before}
