"""Running the real `whstudio serve` as a subprocess for tests that need a whole server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Poll `url` until it answers 200; fail the test if the server exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"server exited early: {err[-2000:] if err else ''}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "whstudio", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def serving(url: str, home: Path, **extra_env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """Serve the database at `url` on a free port; yield (process, base URL); stop it after."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WHSTUDIO_HOME": str(home),
        "WHSTUDIO_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "whstudio", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(f"{base}/readyz", proc):
            pytest.fail("server did not become ready")
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
