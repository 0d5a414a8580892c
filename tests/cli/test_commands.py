"""The CLI commands, run as subprocesses against a database of the test's own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import httpx
import psycopg
import pytest

from tests.servers import free_port, wait_ready


def test_config_masks_secrets_and_shows_overrides(whstudio):
    env = {
        "DATABASE_URL": "postgresql://app:hunter2@db.example:5432/x",
        "WHSTUDIO_SECRET_KEY": "very-secret-key",
        "WHSTUDIO_PORT": "9123",
    }
    result = whstudio("config", env=env)
    assert result.code == 0, result.err
    assert "hunter2" not in result.out and "very-secret-key" not in result.out
    assert "postgresql://app:****@db.example:5432/x" in result.out
    assert "9123" in result.out


def test_an_unreachable_database_is_one_clear_line(whstudio):
    result = whstudio("db", "current", env={"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"})
    assert result.code == 2
    assert "cannot connect to postgresql://u:****@127.0.0.1:1/x" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_db_upgrade_current_and_downgrade(whstudio, make_db):
    env = {"DATABASE_URL": make_db(migrated=False)}
    before = whstudio("db", "current", env=env)
    assert before.code == 0 and "current: base" in before.out and "upgrade needed" in before.out
    assert whstudio("db", "upgrade", env=env).code == 0
    after = whstudio("db", "current", env=env)
    from whstudio.db.migrate import head_revision

    assert "upgrade needed" not in after.out and f"current: {head_revision()}" in after.out
    down = whstudio("db", "downgrade", "base", env=env)
    assert down.code == 0 and "schema at base" in down.out


def test_commands_refuse_an_unmigrated_database(whstudio, make_db):
    result = whstudio("users", "list", env={"DATABASE_URL": make_db(migrated=False)})
    assert result.code == 2 and "whstudio db upgrade" in result.err


def test_users_create_list_token_and_deactivate(whstudio, db_url):
    env = {"DATABASE_URL": db_url}
    made = whstudio(
        "users", "create", "carol", "--role", "reviewer", "--password", "pw-12345678", env=env
    )
    assert made.code == 0, made.err
    again = whstudio("users", "create", "carol", "--password", "pw-12345678", env=env)
    assert again.code == 1 and "already exists" in again.err
    bad = whstudio(
        "users", "create", "dave", "--role", "owner", "--password", "pw-12345678", env=env
    )
    assert bad.code == 1 and "role" in bad.err
    listing = whstudio("users", "list", env=env)
    assert "carol" in listing.out and "reviewer" in listing.out
    token = whstudio("users", "token", "carol", env=env)
    assert token.code == 0
    secret = token.out.strip().splitlines()[-1]
    assert secret.startswith("whs_")
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL").fetchone()
    assert row[0] == 1
    assert whstudio("users", "deactivate", "carol", env=env).code == 0
    with psycopg.connect(db_url) as conn:
        active, live = conn.execute(
            "SELECT u.is_active, count(t.id) FILTER (WHERE t.revoked_at IS NULL)"
            " FROM users u LEFT JOIN api_tokens t ON t.user_id = u.id GROUP BY u.is_active"
        ).fetchone()
    assert (active, live) == (False, 0)
    missing = whstudio("users", "deactivate", "nobody", env=env)
    assert missing.code == 1 and "no user" in missing.err


def test_import_reports_bad_lines_and_is_idempotent(whstudio, db_url, tmp_path):
    env = {"DATABASE_URL": db_url}
    items = tmp_path / "pairs.jsonl"
    items.write_text(
        "\n".join(
            [
                json.dumps({"prompt": "p1", "optionA": "a", "optionB": "b", "gold": "A"}),
                "{broken",
                json.dumps({"prompt": "p2", "optionA": "a", "optionB": "b"}),
            ]
        )
    )
    first = whstudio("import", str(items), env=env)
    assert first.code == 1
    assert "line 2: not valid JSON" in first.err
    assert "tasks 2 new" in first.out
    second = whstudio("import", str(items), env=env)
    assert second.code == 1 and "tasks 0 new, 2 already there" in second.out
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 2
        dataset = conn.execute("SELECT DISTINCT source_dataset FROM questions").fetchone()[0]
    assert dataset == "pairs"
    clean = tmp_path / "clean.csv"
    clean.write_text("prompt,optionA,optionB\nq,x,y\n")
    assert whstudio("import", str(clean), "--dataset", "mine", env=env).code == 0
    missing = whstudio("import", str(tmp_path / "nope.csv"), env=env)
    assert missing.code == 1 and "no such file" in missing.err


def test_import_of_the_mtbench_sample(whstudio, db_url):
    from whstudio.domain.importing import sample_path

    result = whstudio("import", str(sample_path()), env={"DATABASE_URL": db_url})
    assert result.code == 0, result.err
    assert "questions 112 new" in result.out and "tasks 112 new" in result.out
    assert "different verdicts" in result.out
    # Three pairs have the same text on both sides: listed, left out, kept when asked.
    assert result.out.count("left out, line") == 3 and "line 32:" in result.out
    kept = whstudio("import", str(sample_path()), "--keep-identical", env={"DATABASE_URL": db_url})
    assert kept.code == 0 and "tasks 3 new, 112 already there" in kept.out


def test_serve_answers_and_flags_override_settings(whstudio, db_url, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "WHSTUDIO_HOME": str(tmp_path / "h"),
        "WHSTUDIO_PORT": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "whstudio", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry.get("route") == "/readyz" and "request_id" in entry for entry in lines)


def test_serve_with_workers_runs_that_many_processes(db_url, tmp_path):
    import psutil

    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "WHSTUDIO_HOME": str(tmp_path / "w")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "whstudio", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_ready(f"http://127.0.0.1:{port}/readyz", proc, timeout=60)
        workers = [
            child
            for child in psutil.Process(proc.pid).children(recursive=True)
            if "python" in child.name().lower()
        ]
        # two worker processes (and multiprocessing's helper, if any)
        assert len(workers) >= 2, [w.cmdline() for w in workers]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert all(client.get("/readyz").status_code == 200 for _ in range(20))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode in (0, 128 + signal.SIGTERM)  # it stopped on its own


def _sign_in(base: str, username: str, password: str) -> int:
    with httpx.Client(base_url=base, timeout=10) as client:
        form = client.get("/login").text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        return answer.status_code


@pytest.mark.slow
def test_demo_on_a_fresh_data_folder_reaches_readyz(tmp_path):
    """The README's first command: embedded PostgreSQL, migrations, users, MT-Bench, serve."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("WHSTUDIO_")
    }
    env["WHSTUDIO_HOME"] = str(tmp_path / "fresh")
    proc = subprocess.Popen(
        [sys.executable, "-m", "whstudio", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_ready(f"{base}/readyz", proc, timeout=120)
        printed: list[str] = []
        while len([line for line in printed if line.startswith("login: ")]) < 3:
            printed.append(proc.stdout.readline())
        logins = [line.split() for line in printed if line.startswith("login: ")]
        assert [entry[1] for entry in logins] == ["admin", "alice", "bob"]
        # The printed passwords sign in (303 to the start page); a wrong one does not.
        assert _sign_in(base, logins[1][1], logins[1][3]) == 303
        assert _sign_in(base, logins[0][1], logins[0][3]) == 303
        assert _sign_in(base, logins[2][1], "not-the-password") == 401
        assert any("tasks 115 new" in line for line in printed)
    finally:
        # what a service manager sends; the embedded PostgreSQL must stop with the app
        proc.send_signal(signal.SIGTERM)
        try:
            _, log = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            log = ""
    assert proc.returncode == 128 + signal.SIGTERM
    assert (tmp_path / "fresh" / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "fresh" / "pgdata" / "postmaster.pid").exists()
    # One short readable line per request, not JSON.
    assert re.search(r"^\d\d:\d\d:\d\d POST /login 303 \d+ ms$", log, re.M), log[-2000:]
    assert '{"' not in log
    # A second start keeps the passwords, and says how to set a new one.
    again = subprocess.run(
        [sys.executable, "-m", "whstudio", "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stderr
    assert "login: alice (annotator; password printed at the first start" in again.stdout
    assert logins[1][3] not in again.stdout
