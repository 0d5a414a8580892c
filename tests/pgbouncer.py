"""PgBouncer (Debian's `pgbouncer`) in transaction mode in front of the test server, for the suite
profile that runs the web app's request pool through it: WHSTUDIO_TEST_PGBOUNCER=1 (.ci/run sets
it for its DATABASE_URL run). Every database of the server is reachable through it by name."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.servers import free_port

BINARY = "/usr/sbin/pgbouncer"


def wanted() -> bool:
    return os.environ.get("WHSTUDIO_TEST_PGBOUNCER", "") not in ("", "0")


@contextmanager
def running(server_url: str) -> Iterator[str]:
    """Start PgBouncer for the server at `server_url`; yield a URL template whose `dbname` is
    replaced per database (`through(url_of_a_database)` below)."""
    if not Path(BINARY).exists():
        raise RuntimeError(
            f"WHSTUDIO_TEST_PGBOUNCER is set but {BINARY} is missing (apt-get install pgbouncer;"
            " ./dev test installs it when run as root)"
        )
    server = conninfo_to_dict(server_url)
    user = server.get("user") or "postgres"
    folder = Path(tempfile.mkdtemp(prefix="whs-pgbouncer-"))
    port = free_port()
    (folder / "users.txt").write_text(f'"{user}" ""\n')
    target = f"host={server.get('host') or '127.0.0.1'} port={server.get('port') or 5432}"
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = {target}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 1000\n"
        "default_pool_size = 20\n"
        "max_db_connections = 40\n"
        "server_idle_timeout = 5\n"
        "autodb_idle_timeout = 5\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        "log_connections = 0\n"
        "log_disconnections = 0\n"
        "log_stats = 0\n"
    )
    folder.chmod(0o755)
    for f in folder.iterdir():
        f.chmod(0o644)
    command = [BINARY, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        command[1:1] = ["-u", "nobody"]
    # Its log goes to a file: a pipe nobody reads would fill, and PgBouncer would stop on it.
    log = open(folder / "pgbouncer.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                tail = (folder / "pgbouncer.log").read_text()[-2000:]
                raise RuntimeError(f"pgbouncer exited: {tail}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("pgbouncer did not start listening") from None
                time.sleep(0.05)
        yield make_conninfo(
            **{k: v for k, v in server.items() if k not in ("host", "port", "hostaddr")},
            host="127.0.0.1",
            port=str(port),
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def through(pooler: str, database_url: str) -> str:
    """The URL of the database of `database_url`, through the pooler at `pooler`."""
    params = conninfo_to_dict(pooler)
    params["dbname"] = conninfo_to_dict(database_url)["dbname"]
    return make_conninfo(**params)
