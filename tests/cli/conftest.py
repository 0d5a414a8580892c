"""Run the real `whstudio` command as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def whstudio(tmp_path: Path):
    """Return a runner of `whstudio ARGS` with its own data folder and the given environment."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("WHSTUDIO_")}
        full_env.pop("DATABASE_URL", None)
        full_env["WHSTUDIO_HOME"] = str(tmp_path / "home")
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "whstudio", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=tmp_path,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
