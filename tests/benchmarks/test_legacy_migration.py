"""The legacy migration benchmark at a tiny scale, so that it keeps working (not a measurement)."""

from __future__ import annotations

import json

import psycopg
import pytest

from benchmarks import legacy_migration

pytestmark = pytest.mark.slow


def _has_auto_explain(server_url: str) -> bool:
    try:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute("LOAD 'auto_explain'")
    except psycopg.Error:
        return False
    return True


def test_the_migration_benchmark_runs_under_a_simulated_old_application(server_url: str) -> None:
    result = legacy_migration.run(
        server_url, tasks=200, submissions=300, workers=2, batch=50, ops_per_second=40
    )

    assert result["error_count"] == 0, result["errors"]
    assert result["lost"] == {"tasks": 0, "submissions": 0}
    # the whole report as text: pytest would cut a dict's repr short (a failure seen once in
    # CI on 2026-12-06 showed only checksums, unmigrated and quarantined)
    assert result["verify_ok"], json.dumps(result["verify"], default=str)
    assert result["contract_catalog_diff"] == 0
    # every legacy answer with a clear choice counts, the old application's messy ones included
    assert result["votes"]["counted"] == result["votes"]["clear"] > 0
    assert result["verify"]["normalised"].get("submissions", 0) > 0
    assert result["backfill_rows"] >= 500 and result["backfill_rows_per_s"] > 0
    for step in ("expand", "backfill", "verify", "switch", "contract"):
        assert result["steps"][step]["seconds"] >= 0
    assert result["latency"]["backfill"]["ops"] > 0
    if _has_auto_explain(server_url):
        assert "Update on tasks" in result["plans"]["tasks"]
        assert "Update on submissions" in result["plans"]["submissions"]
    else:  # the embedded server ships without the module: the run goes on without plans
        assert not result["plans"]["tasks"].strip()
    text = legacy_migration.render(result)
    assert "rows/s" in text and "Goal (no old-application operation over 200 ms" in text
    assert "each connection in a process of its own" in text


def _show(server_url: str, name: str) -> tuple[str, str]:
    with psycopg.connect(server_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT setting, coalesce(sourcefile, '') FROM pg_settings WHERE name = %s", (name,)
        ).fetchone()


def test_server_settings_hold_for_the_run_and_are_put_back(server_url: str) -> None:
    name = "checkpoint_warning"  # reloadable, and harmless to whatever else uses the server
    before = _show(server_url, name)
    wanted = "17" if before[0] != "17" else "19"

    with legacy_migration.settings_for_the_run(server_url, {name: f"{wanted}s"}):
        setting, source = _show(server_url, name)
        assert setting == wanted and source.endswith("postgresql.auto.conf")

    assert _show(server_url, name) == before


@pytest.mark.parametrize(
    ("name", "reason"),
    [("shared_buffers", "needs a server restart"), ("no_such_setting", "no such setting")],
)
def test_a_setting_that_cannot_be_reloaded_is_refused_and_nothing_changes(
    server_url: str, name: str, reason: str
) -> None:
    before = _show(server_url, "checkpoint_warning")
    with (
        pytest.raises(SystemExit, match=reason),
        legacy_migration.settings_for_the_run(
            server_url, {"checkpoint_warning": "23s", name: "256MB"}
        ),
    ):
        pass
    assert _show(server_url, "checkpoint_warning") == before
