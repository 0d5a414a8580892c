"""squawk lints every migration SQL file; a rule is only ever disabled in the file, with a reason.

No skip: without the squawk binary (the `squawk-cli` dev dependency) this test fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    [
        *(ROOT / "src/whstudio/migrations/versions").glob("*.sql"),
        ROOT / "src/whstudio/legacy/migration.sql",
    ]
)
IGNORE = re.compile(r"^--\s*squawk-ignore(?:-file)?\b(.*)$", re.MULTILINE)


def _squawk() -> str:
    found = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    assert Path(found).exists(), "squawk is not installed: pip install -e '.[dev]' (squawk-cli)"
    return found


def test_there_are_migration_files_to_lint():
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_squawk_finds_nothing(path: Path):
    result = subprocess.run(
        [_squawk(), "--reporter", "gcc", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_disabled_rule_says_why(path: Path):
    for rest in IGNORE.findall(path.read_text(encoding="utf-8")):
        rules, _, reason = rest.partition(" -- ")
        assert rules.strip(), f"{path.name}: an ignore that names no rule disables them all"
        assert len(reason.strip()) >= 20, f"{path.name}: no reason given for {rules.strip()}"
