"""Stage one of an import: a source -> numbered rows, and the rows that could not be read.

Every source is a reader here: JSON Lines, JSON arrays, CSV and Parquet files (MT-Bench human
judgments come in any of them), the pairwise files of `whstudio import` and the import page, and
the demo's MT-Bench sample. A row is (line or row number, the value read). A file that cannot be
read at all raises Unreadable with its one issue.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

from whstudio.schemas import ImportIssue

Row = tuple[int, Any]
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
MAX_DEPTH = 32  # nesting of objects and arrays in one row: real rows need a handful
# A CSV cell may be as long as the largest file an import takes; what is too long for its field
# is then refused with its row by the field's own check (the csv module's default, 131,072
# characters, stopped the whole file with an error).
csv.field_size_limit(64 * 1024 * 1024)


class Unreadable(Exception):
    """The file as a whole cannot be read; `issue` says why."""

    def __init__(self, issue: ImportIssue) -> None:
        super().__init__(issue.reason)
        self.issue = issue


def sample_path() -> Path:
    """Return the path of the MT-Bench sample shipped with the package."""
    return Path(str(resources.files("whstudio.data") / "mtbench_sample.json"))


def jsonl_rows(text: str) -> tuple[list[Row], list[ImportIssue]]:
    """Return one row per non-blank line, and the lines that are not JSON."""
    rows: list[Row] = []
    failed: list[ImportIssue] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rows.append((number, json.loads(raw)))
        except json.JSONDecodeError as exc:
            failed.append(ImportIssue(line=number, reason=f"not valid JSON: {exc.msg}"))
        except RecursionError:
            failed.append(ImportIssue(line=number, reason=_TOO_DEEP))
    return rows, failed


def json_rows(text: str, *, noun: str) -> list[Row]:
    """Return the elements of a JSON array numbered from 1; raise Unreadable otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(
            ImportIssue(line=exc.lineno, reason=f"not valid JSON: {exc.msg}")
        ) from None
    except RecursionError:
        raise Unreadable(ImportIssue(line=1, reason=_TOO_DEEP)) from None
    if not isinstance(data, list):
        raise Unreadable(ImportIssue(line=1, reason=f"a .json file must hold an array of {noun}"))
    return list(enumerate(data, start=1))


def csv_rows(
    text: str, *, blank_header_is_empty: bool = False
) -> tuple[list[Row], list[ImportIssue]]:
    """Return one row per record, numbered by the line it ends on, and the records with more
    cells than headers. blank_header_is_empty: a file whose first line is blank has no rows
    (as the pairwise import has always read it)."""
    reader = csv.DictReader(io.StringIO(text))
    rows: list[Row] = []
    failed: list[ImportIssue] = []
    if blank_header_is_empty and not reader.fieldnames:
        return rows, failed
    try:
        for row in reader:
            if None in row:
                failed.append(ImportIssue(line=reader.line_num, reason="more cells than headers"))
            else:
                rows.append((reader.line_num, row))
    except csv.Error as exc:  # the rest of the file cannot be told apart: it stops here
        failed.append(ImportIssue(line=reader.line_num, reason=f"not readable CSV: {exc}"))
    return rows, failed


_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def _depth_and_nul(value: Any) -> str | None:
    """Why a row cannot be stored as it is read, if it cannot: nested too deep for any field,
    or text with a NUL character, which PostgreSQL's text and JSON refuse."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character (\\u0000), which text cannot hold"
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return _TOO_DEEP
            values = item.values() if isinstance(item, dict) else item
            keys = item.keys() if isinstance(item, dict) else ()
            stack.extend((v, depth + 1) for v in values)
            stack.extend((k, depth) for k in keys)
    return None


def storable(rows: list[Row], failed: list[ImportIssue]) -> tuple[list[Row], list[ImportIssue]]:
    """The rows that can be stored as read; the others join `failed` with the reason."""
    kept: list[Row] = []
    failed = list(failed)
    for number, row in rows:
        why = _depth_and_nul(row)
        if why is None:
            kept.append((number, row))
        else:
            failed.append(ImportIssue(line=number, reason=why))
    failed.sort(key=lambda issue: issue.line)
    return kept, failed


def parquet_rows(data: bytes) -> list[Row]:
    """Return the rows of a Parquet file numbered from 1; raise Unreadable otherwise."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # An Arrow buffer rather than a Python file object, and no thread pool: a read through
        # a Python file with threads sometimes leaves pool threads that abort the interpreter
        # at exit ("terminate called without an active exception", apache/arrow#34314).
        table = pq.read_table(pa.BufferReader(data), use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        raise Unreadable(ImportIssue(line=0, reason=f"not a readable Parquet file: {exc}")) from exc
    return list(enumerate(table.to_pylist(), start=1))


def _unsupported(suffix: str, choices: str) -> Unreadable:
    reason = f"unsupported file type {suffix or '(none)'}; use {choices}"
    return Unreadable(ImportIssue(line=0, reason=reason))


def read_rows(data: bytes, filename: str) -> tuple[list[Row], list[ImportIssue]]:
    """Return (row number, row) pairs and the rows that could not be read at all."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix == ".parquet":
            return storable(parquet_rows(data), [])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Unreadable(ImportIssue(line=0, reason="the file is not UTF-8 text")) from None
        if suffix == ".jsonl":
            return storable(*jsonl_rows(text))
        if suffix == ".json":
            return storable(json_rows(text, noun="rows"), [])
        if suffix == ".csv":
            return storable(*csv_rows(text))
        raise _unsupported(suffix, ", ".join(SUFFIXES))
    except Unreadable as exc:
        return [], [exc.issue]


def read_pairs_text(text: str, filename: str) -> tuple[list[Row], list[ImportIssue]]:
    """Return the rows of a pairwise file's text by its extension: .json (an MT-Bench array like
    the demo sample), .jsonl or .csv; raise Unreadable for a file that cannot be read at all."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".json":
        return storable(json_rows(text, noun="items"), [])
    if suffix == ".jsonl":
        return storable(*jsonl_rows(text))
    if suffix == ".csv":
        return storable(*csv_rows(text, blank_header_is_empty=True))
    raise _unsupported(suffix, ".json, .jsonl or .csv")
