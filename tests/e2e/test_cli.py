"""The command line: `dangvien serve` as a real process, `rebuild`, `project` and `demo`."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
from typer.testing import CliRunner

from domain.ledger import Ledger
from domain.values import Kind
from service.cli import main
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dangvien(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`dangvien ARGS` as a child process, stopped with SIGTERM afterwards."""
    command = [sys.executable, "-c", "from service.cli import main; main()", *args]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DANGVIEN_")} | env
    process = subprocess.Popen(command, cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    """Poll /healthz until the server answers (or fail with its output)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def test_serve_without_an_admin_token_prints_one_that_works(database_url: str) -> None:
    """The bootstrap token is printed once on stdout and lets its holder issue tokens."""
    port = free_port()
    with dangvien("serve", "--port", str(port), env={"DANGVIEN_DATABASE_URL": database_url}) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Bootstrap admin token")
        token = line.rsplit(" ", 1)[-1].strip()
        response = httpx.get(url + "/v1/events", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert response.status_code == 200


def test_serve_logs_json_lines_without_query_strings(database_url: str) -> None:
    """The server's own log lines are JSON with the route; the raw query (a national ID) is nowhere."""
    port = free_port()
    env = {"DANGVIEN_DATABASE_URL": database_url, "DANGVIEN_ADMIN_TOKEN": "dv_cli-admin"}
    with dangvien("serve", "--port", str(port), "--no-projector", env=env) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        httpx.get(url + "/v1/members?national_id=012345678901", headers={"Authorization": "Bearer dv_cli-admin"})
    assert process.stdout is not None
    output = process.stdout.read()
    assert '"route": "/v1/members"' in output
    assert "012345678901" not in output


def test_rebuild_applies_every_event_and_reports_its_speed(tmp_path: Path) -> None:
    """`dangvien rebuild` rebuilds from the log and says how fast."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    ledger = Ledger(Settings(database_url=url).ledger_env())
    ledger.found_organization("R", "Root", Kind.PROVINCIAL, None, date(2015, 1, 1), None, "test")
    ledger.close()
    result = CliRunner().invoke(main, ["rebuild"], env={"DANGVIEN_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "Rebuilt from 1 events" in result.output and "events/s" in result.output
    # The last step (vacuum and statistics, minutes at a national scale) is named while it runs.
    assert "Vacuuming and analyzing the read models" in result.output


def test_rebuild_takes_the_name_of_a_read_model_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    """`dangvien rebuild views` works; an unknown name lists the read models and records nothing."""
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    assert CliRunner().invoke(main, ["rebuild", "views"], env=env).exit_code == 0
    unknown = CliRunner().invoke(main, ["rebuild", "rosterz"], env=env)
    assert unknown.exit_code == 2
    assert "views" in unknown.output


def test_a_bad_database_url_stops_the_command_with_a_clear_message() -> None:
    """The variable is named and the expected forms are shown."""
    result = CliRunner().invoke(main, ["rebuild"], env={"DANGVIEN_DATABASE_URL": "mysql://x/y"})
    assert result.exit_code == 2
    assert "DANGVIEN_DATABASE_URL" in result.output and "postgresql://" in result.output


def test_project_runs_until_terminated(tmp_path: Path) -> None:
    """The runner alone follows the log and stops cleanly on SIGTERM."""
    with dangvien("project", env={"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}) as process:
        time.sleep(2)
        assert process.poll() is None
    assert process.returncode == 0


def test_serve_with_the_demo_answers_the_provinces_roster_and_report_over_http(tmp_path: Path) -> None:
    """The README's first command: the demo province's report balances and matches its roster."""
    port = free_port()
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db", "DANGVIEN_ADMIN_TOKEN": "dv_demo-admin"}
    with dangvien("serve", "--demo", "--port", str(port), env=env) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        auth = {"Authorization": "Bearer dv_demo-admin"}
        # A write after the demo: reading with its position sees everything the demo recorded.
        plan = httpx.put(url + "/v1/organizations/KT/plans/2027", json={"admissions": 55}, headers=auth, timeout=10)
        seen = plan.json()["position"]
        report = httpx.get(
            url + "/v1/organizations/KT/report",
            params={"from": "2024-01-01", "to": "2024-12-31", "min_position": seen},
            headers=auth,
            timeout=30,
        ).json()
        roster = httpx.get(
            url + "/v1/organizations/KT/roster",
            params={"as_of": "2024-12-31", "scope": "subtree", "limit": 1, "min_position": seen},
            headers=auth,
            timeout=30,
        ).json()
    assert report["plan"] == {"period": "2024", "admissions": 48}
    assert report["admitted"] > 30 and report["achievement_pct"] == round(100 * report["admitted"] / 48, 1)
    decreases = sum(v for k, v in report["decreases"].items() if k != "delisted_probationary")
    assert report["opening"] + sum(report["increases"].values()) - decreases == report["closing"]
    assert report["closing"] == roster["total"] > 200
    assert sum(child["closing"] for child in report["children"]) == report["closing"]
    assert [child["organization"] for child in report["children"]] == ["KT.DAKHA", "KT.IAHDRAI", "KT.SATHAY", "KT.TP"]


def test_the_demo_is_loaded_once(tmp_path: Path) -> None:
    """Running `dangvien demo` again records nothing more."""
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"}
    first = CliRunner().invoke(main, ["demo"], env=env)
    assert first.exit_code == 0, first.output
    ledger = Ledger(Settings(database_url=env["DANGVIEN_DATABASE_URL"]).ledger_env())
    recorded = ledger.recorder.max_notification_id()
    again = CliRunner().invoke(main, ["demo"], env=env)
    assert again.exit_code == 0, again.output
    assert ledger.recorder.max_notification_id() == recorded > 1000
    ledger.close()


def test_verify_hashes_every_stream_of_a_subtree_and_fails_on_a_damaged_record(tmp_path: Path) -> None:
    """`dangvien verify KT --subtree`: one line per answer, the digest, and the whole answer as
    JSON; the same digest as the API's; exit status 1 once a stored event is damaged."""
    env = {"DANGVIEN_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"}
    assert CliRunner().invoke(main, ["demo"], env=env).exit_code == 0
    assert CliRunner().invoke(main, ["rebuild"], env=env).exit_code == 0
    out = tmp_path / "verification.json"
    result = CliRunner().invoke(main, ["verify", "KT", "--subtree", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    answer = json.loads(out.read_text())
    assert answer["intact"] and len(answer["organizations"]) == 30 and answer["events"] > 800
    assert f"digest {answer['digest']}" in result.output and "intact" in result.output

    assert CliRunner().invoke(main, ["verify", "NO-SUCH"], env=env).exit_code == 2
    ahead = CliRunner().invoke(main, ["verify", "KT", "--through", str(answer["through"] + 1)], env=env)
    assert ahead.exit_code == 2 and "after" in ahead.output

    # The same bytes stored again as text: nothing was altered, and the column's type is no damage.
    retyped = answer["organizations"][1]["last_position"]
    with sqlite3.connect(tmp_path / "demo.db") as db:
        db.execute("UPDATE stored_events SET state = CAST(state AS TEXT) WHERE rowid = ?", (retyped,))
    again = CliRunner().invoke(main, ["verify", "KT", "--subtree", "--through", str(answer["through"])], env=env)
    assert again.exit_code == 0 and f"digest {answer['digest']}" in again.output

    damaged = answer["organizations"][0]["last_position"]
    with sqlite3.connect(tmp_path / "demo.db") as db:
        db.execute("UPDATE stored_events SET state = substr(state, 1, 10) WHERE rowid = ?", (damaged,))
    broken = CliRunner().invoke(main, ["verify", "KT", "--subtree"], env=env)
    assert broken.exit_code == 1 and "DAMAGED" in broken.output and f"position {damaged}" in broken.output
