"""Rows in the layout of LMSYS's mt_bench_human_judgments (human split), made up for tests."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from whstudio.domain import importing as items

QUESTIONS = {
    81: ("Write a haiku about autumn.", "Now make it rhyme."),
    82: ("Explain recursion to a child.", "Give a one-line example in Python."),
}
MODELS = ("gpt-4", "vicuna-13b", "llama-13b")


def answer(model: str, qid: int, turn: int) -> str:
    return f"{model} answers question {qid}, turn {turn}."


def conversation(model: str, qid: int) -> list[dict]:
    first, second = QUESTIONS[qid]
    return [
        {"role": "user", "content": first},
        {"role": "assistant", "content": answer(model, qid, 1)},
        {"role": "user", "content": second},
        {"role": "assistant", "content": answer(model, qid, 2)},
    ]


def row(qid: int, model_a: str, model_b: str, winner: str, judge: str, turn: int = 1) -> dict:
    return {
        "question_id": qid,
        "model_a": model_a,
        "model_b": model_b,
        "winner": winner,
        "judge": judge,
        "conversation_a": conversation(model_a, qid),
        "conversation_b": conversation(model_b, qid),
        "turn": turn,
    }


def judgments() -> list[dict]:
    """gpt-4 beats vicuna beats llama, mostly; one pair judged in both display orders."""
    return [
        row(81, "gpt-4", "vicuna-13b", "model_a", "author_0"),
        row(81, "gpt-4", "vicuna-13b", "model_a", "author_1"),
        row(81, "vicuna-13b", "gpt-4", "model_b", "expert_0"),  # same pair, shown flipped
        row(81, "gpt-4", "llama-13b", "model_a", "author_0"),
        row(81, "vicuna-13b", "llama-13b", "model_a", "author_1"),
        row(81, "vicuna-13b", "llama-13b", "tie", "expert_0"),
        row(82, "gpt-4", "llama-13b", "model_a", "author_0", turn=2),
        row(82, "llama-13b", "vicuna-13b", "model_b", "author_1"),
    ]


def jsonl(rows) -> bytes:
    """Rows as a JSON Lines file."""
    return "\n".join(json.dumps(r) for r in rows).encode()


def parquet(rows) -> bytes:
    """Rows as a Parquet file (nested conversations as lists of structs, as published)."""
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def check(data: bytes, name: str, **kw) -> items.Checked:
    """A file read and checked as `whstudio import-items` does, without a database."""
    rows, unreadable = items.read_rows(data, name)
    return items.check(rows, unreadable=unreadable, **kw)
