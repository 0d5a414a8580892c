"""`whstudio legacy …` against a legacy DATABASE_URL, and letting legacy users in."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from whstudio.cli import app
from whstudio.db.connect import goes_through_pooler
from whstudio.domain import security
from whstudio.legacy import steps, users
from whstudio.settings import get_settings

runner = CliRunner()


@pytest.fixture
def cli(legacy_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", legacy_url)
    get_settings.cache_clear()
    yield lambda *args: runner.invoke(app, ["legacy", *args])
    get_settings.cache_clear()


def test_cli_walks_the_steps(cli, reference_url):
    assert "not started" in cli("status").output
    result = cli("plan", "--reference-url", reference_url)
    assert result.exit_code == 0 and "CONCURRENTLY" not in result.output
    assert "questions" in result.output
    assert cli("switch", "new").exit_code == 2
    assert cli("expand", "--reference-url", reference_url).exit_code == 0
    assert "nothing to add" in cli("plan", "--reference-url", reference_url).output
    result = cli("backfill", "--batch", "100")
    assert result.exit_code == 0, result.output
    assert "quarantined" in result.output
    result = cli("verify", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True
    status = json.loads(cli("status", "--json").output)
    assert status["step"] == "verified" and status["quarantine"]["tasks"] > 0
    assert cli("switch", "new").exit_code == 0
    assert cli("contract").exit_code == 2  # no --confirm
    assert cli("rollback").exit_code == 2
    result = cli("rollback", "--confirm")
    assert result.exit_code == 0, result.output
    assert json.loads(cli("status", "--json").output)["step"] == "rolled_back"


def test_cli_verify_exits_non_zero_on_a_difference(cli, legacy_url, reference_url):
    cli("expand", "--reference-url", reference_url)
    cli("backfill")
    with psycopg.connect(legacy_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("DELETE FROM notifications WHERE id = (SELECT id FROM notifications LIMIT 1)")
    result = cli("verify")
    assert result.exit_code == 1
    assert "notifications" in result.output


def test_a_legacy_user_gets_a_name_a_password_and_a_token(legacy_url, reference_url):
    steps.expand(legacy_url, reference_url=reference_url)
    with psycopg.connect(legacy_url) as conn:
        world_id, reputation = conn.execute(
            "SELECT world_id, reputation_score FROM users WHERE username IS NULL LIMIT 1"
        ).fetchone()
    with pytest.raises(users.LetInError, match="give --username"):
        users.let_in(legacy_url, world_id, password="long enough pw")
    with pytest.raises(users.LetInError, match="username"):
        users.let_in(legacy_url, world_id, username="no spaces allowed", password="long enough")
    row = users.let_in(
        legacy_url, world_id, username="returning.user", password="long enough pw", token_name="t"
    )
    assert row["token"].startswith("whs_")
    with psycopg.connect(legacy_url) as conn:
        got = conn.execute(
            "SELECT u.username, u.password_hash, u.reputation_score, u.role, t.token_hash"
            "  FROM users u JOIN api_tokens t ON t.user_id = u.id WHERE u.world_id = %s",
            (world_id,),
        ).fetchone()
    assert got[0] == "returning.user" and got[2] == reputation and got[3] == "annotator"
    assert security.verify_password(got[1], "long enough pw")
    assert bytes(got[4]) == security.token_hash(row["token"])
    with pytest.raises(users.LetInError, match="identity"):
        users.let_in(legacy_url, "nobody", password="long enough pw")


async def test_a_direct_url_is_never_taken_for_a_pooler(server_url):
    """The suite's server: TCP with DATABASE_URL, else the embedded one's Unix socket."""
    for _ in range(20):
        assert await goes_through_pooler(server_url) is None
