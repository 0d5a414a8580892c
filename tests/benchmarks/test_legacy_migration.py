"""The legacy migration benchmark at a tiny scale, so that it keeps working (not a measurement)."""

from __future__ import annotations

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
    assert result["verify_ok"], result["verify"]
    assert result["contract_catalog_diff"] == 0
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
