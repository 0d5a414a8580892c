"""Exports for training and analysis: consensus-labelled preference pairs ({prompt, chosen,
rejected} as TRL's reward and DPO trainers read them), every raw response with anonymised
annotators, and the per-annotator quality table; as JSONL or Parquet, written in batches."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import IO, Any
from uuid import UUID

import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import AsyncConnection

from whstudio.db import queries as q
from whstudio.db import stream
from whstudio.errors import InvalidInput

FORMATS = ("jsonl", "parquet")
METHODS = ("majority", "weighted", "dawid_skene")
# conversations: the preference pairs in TRL's conversational shape (messages, not text)
KINDS = ("preferences", "conversations", "responses", "quality")
BATCH_ROWS = 5_000

_TS = pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {
    "preferences": pa.schema(
        [
            ("prompt", pa.string()),
            ("chosen", pa.string()),
            ("rejected", pa.string()),
            ("task_id", pa.string()),
            ("question_id", pa.string()),
            ("source_dataset", pa.string()),
            ("source_ref", pa.string()),
            ("tie", pa.bool_()),
            ("winner", pa.string()),
            ("chosen_model", pa.string()),
            ("rejected_model", pa.string()),
            ("turn", pa.int32()),
            ("agreement_percentage", pa.float64()),
            ("weighted_agreement_percentage", pa.float64()),
            ("num_answers", pa.int32()),
            ("count_a", pa.int32()),
            ("count_b", pa.int32()),
            ("count_tie", pa.int32()),
            ("mean_confidence", pa.float64()),
            ("method", pa.string()),
            ("decided_at", _TS),
        ]
    ),
    "responses": pa.schema(
        [
            ("submission_id", pa.string()),
            ("task_id", pa.string()),
            ("question_id", pa.string()),
            ("question_type", pa.string()),
            ("source_dataset", pa.string()),
            ("source_ref", pa.string()),
            ("annotator", pa.string()),
            ("username", pa.string()),
            ("response_version", pa.int32()),
            ("is_latest", pa.bool_()),
            ("chosen_response", pa.string()),
            ("payload", pa.string()),
            ("confidence", pa.int32()),
            ("explanation", pa.string()),
            ("time_spent_seconds", pa.int32()),
            ("shown_order", pa.string()),
            ("vote_weight", pa.float64()),
            ("in_consensus", pa.bool_()),
            ("source_label", pa.string()),
            ("annotator_kind", pa.string()),
            ("informed", pa.bool_()),
            ("guidelines_version", pa.int32()),
            ("reasons", pa.list_(pa.string())),
            ("created_at", _TS),
        ]
    ),
    "quality": pa.schema(
        [
            ("annotator", pa.string()),
            ("username", pa.string()),
            ("role", pa.string()),
            ("reputation_score", pa.int64()),
            ("reputation_weight", pa.float64()),
            ("answers", pa.int32()),
            ("scored_answers", pa.int32()),
            ("gold_checks", pa.int32()),
            ("gold_correct", pa.int32()),
            ("gold_accuracy", pa.float64()),
            ("mean_agreement_with_consensus", pa.float64()),
            ("outliers", pa.int32()),
            ("flagged_for_review", pa.int32()),
            ("mean_time_spent_seconds", pa.float64()),
            ("accuracy", pa.float64()),
            ("accuracy_low", pa.float64()),
            ("accuracy_high", pa.float64()),
            ("agreement_rate", pa.float64()),
            ("dawid_skene_accuracy", pa.float64()),
            ("flags", pa.list_(pa.string())),
        ]
    ),
}
_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMAS["conversations"] = pa.schema(
    [
        ("prompt", _MESSAGES),
        ("chosen", _MESSAGES),
        ("rejected", _MESSAGES),
        *(f for f in SCHEMAS["preferences"] if f.name not in ("prompt", "chosen", "rejected")),
    ]
)
_QUERY = {
    "preferences": "export.preferences",
    "conversations": "export.preferences",
    "responses": "export.responses",
    "quality": "export.annotator_quality",
}


@dataclass(frozen=True)
class PreferenceFilters:
    """Which tasks a preference export holds."""

    dataset: str | None = None
    min_agreement: float = 0.0
    min_answers: int = 0
    since: datetime | None = None
    until: datetime | None = None
    include_ties: bool = False
    method: str = "majority"

    def params(self) -> dict[str, Any]:
        if self.method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}", field="method")
        if not 0 <= self.min_agreement <= 100:
            raise InvalidInput("min_agreement must be between 0 and 100", field="min_agreement")
        if self.min_answers < 0:
            raise InvalidInput("min_answers must not be negative", field="min_answers")
        if self.since and self.until and self.since >= self.until:
            raise InvalidInput("since must be before until", field="since")
        return {
            "dataset": self.dataset,
            "min_agreement": self.min_agreement,
            "min_answers": self.min_answers,
            "since": self.since,
            "until": self.until,
            "include_ties": self.include_ties,
            "method": self.method,
        }


@dataclass(frozen=True)
class RawFilters:
    """Which answers a raw export holds, and whether annotators are shown as themselves."""

    salt: str
    dataset: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    latest_only: bool = False
    reveal: bool = False

    def params(self) -> dict[str, Any]:
        if not self.reveal and len(self.salt) < 8:
            raise InvalidInput("the anonymising salt must have at least 8 characters", field="salt")
        return {
            "salt": self.salt,
            "dataset": self.dataset,
            "since": self.since,
            "until": self.until,
            "latest_only": self.latest_only,
            "reveal": self.reveal,
        }


def default_salt(secret_key: str) -> str:
    """Return the annotator-hash salt derived from the service's secret key (stable per site)."""
    return hashlib.sha256(f"whstudio-export-salt:{secret_key}".encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


async def left_out(conn: AsyncConnection, params: dict[str, Any]) -> dict[str, int]:
    """The pairwise tasks of a preference export's dataset it does not write, counted by reason
    (no answers, too few, no consensus, a tie, min_answers, min_agreement, the time window):
    an export never leaves tasks out silently. `params`: PreferenceFilters.params()."""
    rows = await q.fetch_all(conn, "export.preferences_left_out", params)
    return {row["reason"]: row["tasks"] for row in rows}


def left_out_text(counts: dict[str, int]) -> str:
    """`12 no consensus, 3 settled on a tie` (empty when none)."""
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def conversational(row: dict[str, Any]) -> dict[str, Any]:
    """A preference row in TRL's conversational shape: `prompt` the messages both sides share,
    `chosen` / `rejected` the messages that follow on the winner's and the loser's side (for a
    single-turn item, the assistant's reply; for a later turn, each model's own earlier replies
    too, since each answered the earlier turns itself)."""
    conversation = row.pop("conversation", None)
    out = dict(row)
    if conversation:
        sides = (conversation["b"], conversation["a"])
        out["prompt"] = conversation["prompt"]
        out["chosen"], out["rejected"] = sides if row["winner"] == "B" else sides[::-1]
    else:
        out["prompt"] = [{"role": "user", "content": row["prompt"]}]
        out["chosen"] = [{"role": "assistant", "content": row["chosen"]}]
        out["rejected"] = [{"role": "assistant", "content": row["rejected"]}]
    return out


async def batches(
    conn: AsyncConnection, kind: str, params: dict[str, Any], *, size: int | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield the export's rows in batches (of BATCH_ROWS) through a server-side cursor (needs
    a transaction)."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    read = stream.batches(
        conn, _QUERY[kind], params, cursor=f"whstudio_export_{kind}", size=size or BATCH_ROWS
    )
    async with contextlib.aclosing(read):
        async for rows in read:
            plain = [{k: _plain(v) for k, v in row.items()} for row in rows]
            yield [conversational(r) for r in plain] if kind == "conversations" else plain


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _jsonl(rows: list[dict[str, Any]], names: list[str]) -> bytes:
    return b"".join(
        json.dumps(
            {name: row.get(name) for name in names}, ensure_ascii=False, default=_json_default
        ).encode()
        + b"\n"
        for row in rows
    )


async def jsonl_chunks(
    conn: AsyncConnection, kind: str, params: dict[str, Any]
) -> AsyncIterator[tuple[bytes, int]]:
    """Yield the export as JSON Lines, a batch of rows at a time: (bytes, rows in them). The
    encoding runs in a thread, so that the event loop serves other requests meanwhile."""
    names = SCHEMAS[kind].names if kind in SCHEMAS else []
    async for rows in batches(conn, kind, params):
        yield await asyncio.to_thread(_jsonl, rows, names), len(rows)


async def write(
    conn: AsyncConnection, kind: str, params: dict[str, Any], fmt: str, out: IO[bytes]
) -> int:
    """Write the export to a binary stream in `fmt`; return the number of rows."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    count = 0
    if fmt == "jsonl":
        async for chunk, rows in jsonl_chunks(conn, kind, params):
            out.write(chunk)
            count += rows
        return count
    schema = SCHEMAS[kind]
    writer = pq.ParquetWriter(out, schema, compression="zstd")
    try:
        async for rows in batches(conn, kind, params):
            count += len(rows)
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    finally:
        writer.close()
    return count
