"""The WAL attribution's reading of pg_waldump lines (benchmarks/wal_by_relation.py)."""

from __future__ import annotations

from benchmarks.wal_by_relation import attribute, render

LINES = [
    # a B-tree insert that logs its page whole, charged to the index 200
    "rmgr: Btree       len (rec/tot):     53/  7469, tx:      12532, lsn: 1/72003BF0, "
    "prev 1/72003BA8, desc: INSERT_LEAF off 56, blkref #0: rel 1663/17220/200 blk 7264 FPW",
    # a row lock (a foreign-key check) on the heap 100, whole page too
    "rmgr: Heap        len (rec/tot):     59/  8067, tx:      12532, lsn: 1/720078A8, "
    "prev 1/72007870, desc: LOCK off 34: xid 12532: flags 0x00 LOCK_ONLY KEYSHR_LOCK , "
    "blkref #0: rel 1663/17220/100 blk 13114 FPW",
    # an update whose new version lands on another page of the same heap: two blocks, one record
    "rmgr: Heap        len (rec/tot):     80/  8200, tx:      12533, lsn: 1/72009000, "
    "prev 1/720078A8, desc: UPDATE off 3 xmax 12533, blkref #0: rel 1663/17220/100 blk 9 FPW, "
    "blkref #1: rel 1663/17220/100 blk 13114",
    # a commit names no block
    "rmgr: Transaction len (rec/tot):     34/    34, tx:      12532, lsn: 1/7200A000, "
    "prev 1/72009000, desc: COMMIT 2026-12-07 22:00:00.000000 UTC",
    "pg_waldump: error: error in WAL record at 1/7200A100: invalid record length",
]


def test_records_bytes_and_whole_pages_go_to_the_relation_they_change() -> None:
    found = attribute(LINES)
    assert found.records == {"200": 1, "100": 2, "(Transaction)": 1}
    assert found.bytes["100"] == 8067 + 8200 and found.bytes["200"] == 7469
    assert found.whole_pages == {"200": 1, "100": 2}
    assert found.total_bytes == 7469 + 8067 + 8200 + 34
    assert found.by_kind[("Heap", "LOCK")] == 8067
    assert found.by_kind[("Transaction", "COMMIT")] == 34


def test_the_table_is_per_unit_and_names_the_relations() -> None:
    text = render(attribute(LINES), {"100": "tasks", "200": "tasks_pkey"}, units=2)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert rows["tasks"] == "| tasks | 7.94 | 68% | 1.00 | 1.00 |"
    assert rows["tasks_pkey"] == "| tasks_pkey | 3.65 | 31% | 0.50 | 0.50 |"
    assert text.startswith("11.6 kB of WAL and 1.50 whole pages per unit")
