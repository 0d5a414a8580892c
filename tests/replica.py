"""A PostgreSQL primary and a streaming replica of it, made for a test (initdb, pg_basebackup)
with the server binaries of this machine, in a folder of their own, on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.servers import free_port


def binaries() -> Path | None:
    """The folder of initdb, pg_ctl and pg_basebackup (Debian's PostgreSQL 15+, or pgserver's)."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "pg_basebackup").exists():
            return folder
    try:
        import pgserver

        folder = Path(pgserver.__file__).parent / "pginstall" / "bin"
        return folder if (folder / "pg_basebackup").exists() else None
    except ImportError:
        return None


def _run(command: list[str], owner: str | None) -> None:
    if owner:  # the server refuses to run as root
        command = ["runuser", "-u", owner, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr[-2000:] or done.stdout[-2000:]}")


def url(port: int, dbname: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{dbname}"


def caught_up(primary: str, replica: str, timeout: float = 30) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    with psycopg.connect(primary, autocommit=True) as conn:
        # the insert position: everything written so far, flushed or not
        target = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica, autocommit=True) as conn:
        while True:
            behind = conn.execute(
                "SELECT pg_wal_lsn_diff(%s, pg_last_wal_replay_lsn()) > 0", (target,)
            ).fetchone()[0]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the replica did not catch up")
            time.sleep(0.05)


@contextmanager
def primary_and_replica() -> Iterator[tuple[int, int]]:
    """Start a primary and a hot-standby replica streaming from it; yield their ports."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries with pg_basebackup on this machine")
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="whs-replica-"))
    primary, replica = folder / "primary", folder / "replica"
    ports = free_port(), free_port()
    if owner:
        shutil.chown(folder, owner)
    started: list[Path] = []
    try:
        _run([str(bin_dir / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust",
              "--no-sync"], owner)  # fmt: skip
        settings = (
            f"port = {ports[0]}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{folder}'\nwal_level = replica\n"
            "max_wal_senders = 4\nhot_standby = on\nfsync = off\n"
            "full_page_writes = off\nshared_buffers = 32MB\n"
        )
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(settings)
        _run([str(bin_dir / "pg_ctl"), "-D", str(primary), "-l", str(folder / "primary.log"),
              "-w", "start"], owner)  # fmt: skip
        started.append(primary)
        backup = [str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(ports[0])]
        _run([*backup, "-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "--no-sync"],
             owner)  # fmt: skip
        with open(replica / "postgresql.conf", "a") as conf:
            conf.write(f"port = {ports[1]}\n")
        _run([str(bin_dir / "pg_ctl"), "-D", str(replica), "-l", str(folder / "replica.log"),
              "-w", "start"], owner)  # fmt: skip
        started.append(replica)
        yield ports
    finally:
        for data in reversed(started):
            with contextlib.suppress(RuntimeError):
                _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner)
        shutil.rmtree(folder, ignore_errors=True)
