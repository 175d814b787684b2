"""`python -m benchmarks` end to end at a tiny scale, on the test PostgreSQL server: it runs every
phase and writes every figure the national-scale issue asks for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "import_events_per_s",
    "import_ratio_vs_raw_insert",
    "rebuild_events_per_s",
    "rebuild_ratio_vs_raw_read",
    "command_p50_ms",
    "command_p99_ms",
    "root_report_p95_ms",
    "province_report_p95_ms",
    "cell_roster_as_of_p95_ms",
    "member_history_p95_ms",
    "rebuild_peak_rss_mb",
)


@pytest.mark.postgres
def test_the_benchmark_writes_every_figure_with_scale_events_and_machine(
    postgres_server_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGVIEN_")}
    env["DANGVIEN_DATABASE_URL"] = postgres_server_url
    command = [
        sys.executable, "-m", "benchmarks", "--scale", "0.0003", "--out", str(out), "--work", str(tmp_path),
        "--samples", "5", "--commands", "20", "--rate", "50",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["scale"] == 0.0003 and figures["events"] > 1000
    assert figures["import_refused"] == {}, "the generated history must pass the Charter whole"
    assert {"cpu", "cores", "postgres"} <= figures["machine"].keys()
    for name in FIGURES:
        assert isinstance(figures[name], (int, float)) and figures[name] > 0, name
    assert figures["command_statuses"].keys() <= {"200", "201"}
    # The import's floor: serializing and inserting alone, so never slower than the import itself.
    assert figures["serialize_events_per_s"] > 0
    assert figures["import_events_per_s"] < figures["import_ceiling_events_per_s"] < figures["raw_insert_events_per_s"]
    # The tests' role may not ask for a checkpoint; the kernel's flush runs all the same.
    settled = figures["settled_before_latencies"]
    assert settled["checkpoint"] is False and settled["seconds"] >= 0 and settled["dirty_mb_before"] >= 0
    assert figures["dirty_mb_before_commands"] >= 0


@pytest.mark.postgres
def test_a_throw_away_server_lets_the_benchmark_settle_the_disk_with_a_checkpoint() -> None:
    """The benchmark's own server grants its role the checkpoint that `settle` asks for."""
    from benchmarks import store

    with store.postgres_database(None) as (database_url, _):
        settled = store.settle(database_url)
    assert settled["checkpoint"] is True
