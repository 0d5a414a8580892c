"""Syntax highlighting of the code in a task's Markdown, done on the server with Pygments.

The answering page renders Markdown itself, building elements and setting only their text (see
static/markdown.js). For each fenced code block with a language this module returns the code cut
into tokens, each with its Pygments class: the page shows a block's tokens only when they join to
exactly the block's text, so a block this module reads differently simply stays plain. Work is
bounded: at most `MAX_BLOCKS` blocks and `MAX_CODE_CHARS` characters of code per task view, and
a block seen before is not lexed again (`_tokens` is cached).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

MAX_BLOCKS = 40
MAX_CODE_CHARS = 60_000
MAX_BLOCK_CHARS = 20_000
STYLE = "github-dark"
CLASS_PREFIX = "tok-"
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_CLOSE = re.compile(r"^([`~])\1*$")


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """Return the (language, code) of each fenced block, read as static/markdown.js reads
    them (an unclosed fence runs to the end)."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        marker, lang = m.group(1), m.group(2)
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = lines[i].strip()
            if close.startswith(marker[0] * len(marker)) and _CLOSE.match(close):
                i += 1
                break
            body.append(lines[i])
            i += 1
        if lang:
            out.append((lang, "\n".join(body)))
    return out


def _class(ttype) -> str:
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


@lru_cache(maxsize=1024)
def _tokens(lang: str, code: str) -> tuple[tuple[str, str], ...] | None:
    try:
        lexer = get_lexer_by_name(lang.lower(), stripnl=False, ensurenl=False, tabsize=0)
    except ClassNotFound:
        return None
    merged: list[list[str]] = []
    for ttype, value in lexer.get_tokens(code):
        cls = _class(ttype)
        if merged and merged[-1][0] == cls:
            merged[-1][1] += value
        else:
            merged.append([cls, value])
    if "".join(v for _, v in merged) != code:
        return None  # the lexer changed the text: leave the block plain
    return tuple((c, v) for c, v in merged)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def for_content(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the highlighted fenced blocks of a task's content (prompt, answers, options,
    conversations): [{"lang", "code", "tokens": [[class, text], ...]}], within the bounds."""
    out: list[dict[str, Any]] = []
    budget = MAX_CODE_CHARS
    seen: set[tuple[str, str]] = set()
    for text in _strings(content):
        if "```" not in text and "~~~" not in text:
            continue
        for lang, code in fenced_blocks(text):
            if len(out) >= MAX_BLOCKS or len(code) > min(MAX_BLOCK_CHARS, budget):
                continue
            if (lang, code) in seen:
                continue
            seen.add((lang, code))
            tokens = _tokens(lang, code)
            if tokens is None:
                continue
            budget -= len(code)
            out.append({"lang": lang, "code": code, "tokens": [list(t) for t in tokens]})
    return out


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The token colours for highlighted code (Pygments' style `STYLE`), scoped to Markdown."""
    formatter = HtmlFormatter(style=STYLE, classprefix=CLASS_PREFIX)
    rules = formatter.get_style_defs(".md pre code")
    # Only the token rules: the block's own background and size come from style.css.
    return "\n".join(line for line in rules.splitlines() if f".{CLASS_PREFIX}" in line) + "\n"
