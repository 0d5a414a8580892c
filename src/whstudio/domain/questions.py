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


ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 100
MAX_MESSAGE_CHARS = 100_000


def _messages(value: Any, field: str, *, reply: bool) -> list[dict[str, str]]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MESSAGES:
        raise InvalidInput(f"must be a list of 1 to {MAX_MESSAGES} messages", field=field)
    out = []
    for i, message in enumerate(value):
        where = f"{field}.{i}"
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            raise InvalidInput("a message is {role, content}", field=where)
        role, text = message.get("role"), message.get("content")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field=f"{where}.role")
        if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS:
            raise InvalidInput(
                f"content must be text of at most {MAX_MESSAGE_CHARS} characters",
                field=f"{where}.content",
            )
        out.append({"role": role, "content": text})
    if reply and out[-1]["role"] != "assistant":
        raise InvalidInput("must end with the assistant's message", field=field)
    return out


def validate_conversation(value: Any) -> dict[str, list[dict[str, str]]]:
    """A multi-turn pairwise item as messages: `prompt`, the conversation both sides share (the
    user's turns before the replies compared, and any replies both sides share), and `a` / `b`,
    each side's messages after it, ending with the reply compared. Where the sides' earlier
    replies differ (MT-Bench turn 2: each model answered turn 1 itself), those belong to the
    sides. Raise InvalidInput naming the message at fault."""
    if not isinstance(value, dict) or set(value) != {"prompt", "a", "b"}:
        raise InvalidInput("conversation is {prompt, a, b}", field="conversation")
    return {
        "prompt": _messages(value["prompt"], "conversation.prompt", reply=False),
        "a": _messages(value["a"], "conversation.a", reply=True),
        "b": _messages(value["b"], "conversation.b", reply=True),
    }


def split_conversations(
    side_a: list[tuple[str, str]], side_b: list[tuple[str, str]]
) -> dict[str, list[dict[str, str]]]:
    """The conversation of two sides as {prompt, a, b}: the longest common beginning (never
    the replies compared, the last messages) and what follows it on each side."""
    shared = 0
    limit = min(len(side_a), len(side_b)) - 1
    while shared < limit and side_a[shared] == side_b[shared]:
        shared += 1

    def msgs(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"role": role, "content": text} for role, text in pairs]

    return {"prompt": msgs(side_a[:shared]), "a": msgs(side_a[shared:]), "b": msgs(side_b[shared:])}


def swap_sides(content: dict[str, Any]) -> dict[str, Any]:
    """Pairwise content with its sides the other way round: the options, and each side's
    messages of a multi-turn item."""
    swapped = {**content, "optionA": content["optionB"], "optionB": content["optionA"]}
    if isinstance(content.get("conversation"), dict):
        turns = content["conversation"]
        swapped["conversation"] = {**turns, "a": turns["b"], "b": turns["a"]}
    return swapped


def flat_content(content: dict[str, Any]) -> dict[str, Any]:
    """The content without its conversation: how a multi-turn item was stored before it kept
    its messages (the same prompt and options, as text)."""
    return {k: v for k, v in content.items() if k != "conversation"}


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
        if content.get("conversation") is not None:
            out["conversation"] = validate_conversation(content["conversation"])
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


async def find(
    conn: AsyncConnection, question_type: str, content: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored question with this content (or, for a multi-turn item, with its text alone, as
    stored before questions kept their messages), or None."""
    for candidate in (content, flat_content(content)):
        row = await q.fetch_one(
            conn,
            "questions.by_content",
            {"question_type": question_type, "content": Jsonb(candidate)},
        )
        if row is not None:
            return row
    return None


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
    """Return (question, created). Content already stored returns the stored question unchanged.

    A multi-turn item whose text was stored before questions kept their messages (the same
    prompt and options without `conversation`) is that question: it gains its messages."""
    content = validate_content(question_type, content)
    if "conversation" in content:
        await q.execute(
            conn,
            "questions.add_conversation",
            {
                "question_type": question_type,
                "flat": Jsonb(flat_content(content)),
                "content": Jsonb(content),
            },
        )
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
