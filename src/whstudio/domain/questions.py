"""Questions: typed content, stored once per distinct content, with an optional gold answer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whstudio.db import queries as q
from whstudio.errors import InvalidInput

QUESTION_TYPES = ("pairwise_ab", "ranking", "text_generation", "voice_transcription")
_PAIRWISE_GOLD = {"a": "A", "b": "B", "tie": "tie"}


def normalize_pairwise_gold(value: Any) -> str | None:
    """Return 'A', 'B', 'tie' or None from the spellings found in files; raise on anything else."""
    if value is None:
        return None
    if isinstance(value, str):
        key = value.strip().lower()
        if key in ("", "null", "none"):
            return None
        if key in _PAIRWISE_GOLD:
            return _PAIRWISE_GOLD[key]
    raise InvalidInput(f"gold must be A, B, tie or empty, not {value!r}", field="gold")


def validate_content(question_type: str, content: dict[str, Any]) -> dict[str, Any]:
    """Return the content reduced to the keys its type uses; raise InvalidInput naming the field."""
    if question_type not in QUESTION_TYPES:
        raise InvalidInput(f"unknown question type {question_type!r}", field="question_type")
    prompt = content.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("prompt must be a non-empty string", field="prompt")
    out: dict[str, Any] = {"prompt": prompt}
    if question_type == "pairwise_ab":
        for key in ("optionA", "optionB"):
            if not isinstance(content.get(key), str):
                raise InvalidInput(f"{key} must be a string", field=key)
            out[key] = content[key]
    elif question_type == "ranking":
        options = content.get("options")
        if (
            not isinstance(options, list)
            or not 2 <= len(options) <= 20
            or not all(isinstance(o, str) for o in options)
        ):
            raise InvalidInput("options must be a list of 2 to 20 strings", field="options")
        out["options"] = options
    elif question_type == "voice_transcription":
        url = content.get("audio_url")
        if not isinstance(url, str) or not url.strip():
            raise InvalidInput("audio_url must be a non-empty string", field="audio_url")
        out["audio_url"] = url
    return out


async def get_or_create(
    conn: AsyncConnection,
    *,
    question_type: str,
    content: dict[str, Any],
    gold_standard: Any = None,
    source_dataset: str | None = None,
    source_ref: str | None = None,
    metadata: dict[str, Any] | None = None,
    created_by: UUID | None = None,
) -> tuple[dict[str, Any], bool]:
    """Return (question, created). Content already stored returns the stored question unchanged."""
    content = validate_content(question_type, content)
    params = {
        "question_type": question_type,
        "content": Jsonb(content),
        "gold_standard": Jsonb(gold_standard) if gold_standard is not None else None,
        "source_dataset": source_dataset,
        "source_ref": source_ref,
        "metadata": Jsonb(metadata or {}),
        "created_by": created_by,
    }
    row = await q.fetch_one(conn, "questions.insert", params)
    if row is not None:
        return row, True
    existing = await q.fetch_one(conn, "questions.by_content", params)
    assert existing is not None, "content hash conflict without a matching row"
    return existing, False
