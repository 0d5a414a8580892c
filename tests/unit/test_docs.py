"""The reference docs are written from the code; this notices when they fall behind."""

from __future__ import annotations

from pathlib import Path

from whstudio.cli import docs
from whstudio.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
README = Path(__file__).resolve().parents[2] / "README.md"


def test_generated_references_are_current():
    for name, build in docs.DOCS.items():
        assert (DOCS / name).read_text() == build(), (
            f"docs/{name} is stale: run `python -m whstudio.cli.docs`"
        )


def test_every_setting_has_a_description():
    for name, field in Settings.model_fields.items():
        assert field.description, name


def test_the_readme_gives_the_two_setup_commands():
    text = README.read_text()
    assert "./dev demo" in text and "./dev test" in text
