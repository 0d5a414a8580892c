"""Where the WAL of a stretch of work goes, relation by relation: records, bytes and whole pages
(full-page images) per unit of work, from `pg_waldump` over a window of LSNs.

    .venv/bin/python -m benchmarks.wal_by_relation URL --seconds 8 [--count-table submissions]

Run it while a load runs against URL's database (for example during `benchmarks.run --only
submit`): it notes the server's WAL position, waits `--seconds`, notes it again and how many
rows `--count-table` gained meanwhile (the unit: answers, for submissions), then reads that
stretch of WAL with pg_waldump from the server's data directory. It needs a superuser on a
server of this machine whose `pg_wal` it can read, and must run soon after the window (a
checkpoint recycles the segments).

A record is charged to the first block it names (the page it changes); a whole page is charged
to the relation it belongs to. Row locks show as `Heap LOCK` records: a foreign-key check
locks the referenced row (FOR KEY SHARE), which dirties that row's page, so the first such
lock after a checkpoint logs the whole page even though no data changed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

_LENGTH = re.compile(r"len \(rec/tot\):\s*\d+/\s*(\d+)")
_BLOCK = re.compile(r"blkref #\d+: rel \d+/\d+/(\d+)(?: fork \w+)? blk \d+( FPW)?")
_RMGR = re.compile(r"^rmgr: (\S+)")
_DESC = re.compile(r"desc: (\S+)")


@dataclass
class Attribution:
    """WAL of a window, by relation (filenode) and by kind of record."""

    records: Counter = field(default_factory=Counter)
    bytes: Counter = field(default_factory=Counter)
    whole_pages: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)  # (resource manager, record) -> bytes

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def total_whole_pages(self) -> int:
        return sum(self.whole_pages.values())


def attribute(lines: Iterable[str]) -> Attribution:
    """Sum pg_waldump's record lines by the relation each record changes."""
    out = Attribution()
    for line in lines:
        length = _LENGTH.search(line)
        if length is None:
            continue
        size = int(length.group(1))
        rmgr = _RMGR.search(line)
        desc = _DESC.search(line)
        kind = (rmgr.group(1) if rmgr else "?", desc.group(1).rstrip(",") if desc else "?")
        out.by_kind[kind] += size
        blocks = _BLOCK.findall(line)
        owner = blocks[0][0] if blocks else f"({kind[0]})"
        out.records[owner] += 1
        out.bytes[owner] += size
        for filenode, whole in blocks:
            if whole:
                out.whole_pages[filenode] += 1
    return out


def render(found: Attribution, names: dict[str, str], units: int, *, top: int = 25) -> str:
    """A Markdown table per unit of work, the relations logging the most bytes first."""
    n = max(units, 1)
    lines = [
        f"{found.total_bytes / n / 1024:.1f} kB of WAL and {found.total_whole_pages / n:.2f} "
        f"whole pages per unit ({units:,} units, {found.total_bytes / 1e6:.1f} MB).",
        "",
        "| relation | kB / unit | share | records / unit | whole pages / unit |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for filenode, size in found.bytes.most_common(top):
        lines.append(
            f"| {names.get(filenode, filenode)} | {size / n / 1024:.2f} | "
            f"{size / max(found.total_bytes, 1):.0%} | {found.records[filenode] / n:.2f} | "
            f"{found.whole_pages[filenode] / n:.2f} |"
        )
    lines += ["", "| record | kB / unit |", "| --- | ---: |"]
    for (rmgr, record), size in found.by_kind.most_common(8):
        lines.append(f"| {rmgr} {record} | {size / n / 1024:.2f} |")
    return "\n".join(lines)


def _waldump(conn: psycopg.Connection) -> str:
    found = shutil.which("pg_waldump")
    if found:
        return found
    version = conn.execute("SHOW server_version_num").fetchone()[0][:2]
    candidate = Path(f"/usr/lib/postgresql/{version}/bin/pg_waldump")
    if candidate.exists():
        return str(candidate)
    raise SystemExit("pg_waldump not found (PATH, /usr/lib/postgresql/<version>/bin)")


def measure(url: str, seconds: float, count_table: str) -> tuple[Attribution, dict, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        count = (
            "SELECT pg_current_wal_lsn()::text, "
            "(SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = %s)"
        )
        start, before = conn.execute(count, [count_table]).fetchone()
        time.sleep(seconds)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        end, after = conn.execute(count, [count_table]).fetchone()
        wal_dir = Path(conn.execute("SHOW data_directory").fetchone()[0]) / "pg_wal"
        dump = subprocess.run(
            [_waldump(conn), "-p", str(wal_dir), "-s", start, "-e", end],
            capture_output=True,
            text=True,
            check=False,
        )
        names = dict(
            conn.execute(
                "SELECT relfilenode::text, relname FROM pg_class WHERE relfilenode <> 0"
            ).fetchall()
        )
    return attribute(dump.stdout.splitlines()), names, (after or 0) - (before or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the database under load (a superuser's connection)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--count-table", default="submissions", help="rows inserted = units")
    args = parser.parse_args(argv)
    found, names, units = measure(args.url, args.seconds, args.count_table)
    print(render(found, names, units))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
