"""Server-side highlighting of fenced code in Markdown (domain/highlight.py)."""

from __future__ import annotations

from whstudio.domain import highlight

CODE = "def f(x):\n\tif x < 1:\n        return 'a'  # c\n    return f(x - 1)\n"


def test_tokens_join_to_exactly_the_code_the_page_renders():
    text = f"Intro\n\n```python\n{CODE}```\n\n~~~js\nconst a = `x`;\n~~~\n```\nplain\n```"
    blocks = highlight.for_content({"prompt": "p", "optionA": text, "optionB": "no code"})
    assert [b["lang"] for b in blocks] == ["python", "js"]  # a block without language: none
    for block in blocks:
        assert "".join(t[1] for t in block["tokens"]) == block["code"]
        assert all(cls == "" or cls.isalnum() for cls, _ in block["tokens"])
    assert blocks[0]["code"] == CODE.rstrip("\n")
    assert ["k", "def"] in blocks[0]["tokens"]


def test_unknown_languages_and_unclosed_fences():
    assert highlight.for_content({"prompt": "```klingon\nqapla'\n```"}) == []
    [block] = highlight.for_content({"prompt": "```python\nx = 1\nstill code"})
    assert block["code"] == "x = 1\nstill code"


def test_the_work_is_bounded():
    many = "\n".join(f"```python\nx = {i}\n```" for i in range(100))
    assert len(highlight.for_content({"prompt": many})) == highlight.MAX_BLOCKS
    huge = "```python\n" + "x = 1\n" * 5000 + "```"
    assert highlight.for_content({"prompt": huge}) == []  # over MAX_BLOCK_CHARS: left plain
    assert highlight.for_content({"a": many, "b": many})[0]["code"] == "x = 0"  # once each


def test_the_stylesheet_colours_only_tokens():
    css = highlight.stylesheet()
    assert ".md pre code .tok-k " in css and "background" not in css.split(".tok-")[0]
