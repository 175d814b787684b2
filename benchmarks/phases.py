"""The phases of a benchmark run, each returning plain figures.

- `import_history`: the generated file through `service.importer` (the ledger's batches).
- `raw_insert`: the same serialized rows into an identical events table, in transactions as large
  as the import's, through the ledger's recorder (the writers' lock, the notification, then COPY, as
  the import writes) or, for reference, through the library's own (one INSERT of an array).
- `in_child`: rebuild of the read models, or raw read and deserialization of the log, in a process
  of its own (peak memory).
- `queries`: reports, rosters as of a day, and member histories, through `ReadModels`; loading the
  largest cells' streams from the store (snapshot and later events).
- `http_commands`: single commands over HTTP at a steady rate against a real `dangvien serve`.
"""

from __future__ import annotations

import cProfile
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from domain.ledger import Ledger
from projections import ReadModels
from service.importer import ImportSummary, import_file
from service.recorder import PostgresLedgerRecorder
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
HISTORY = (date(2016, 1, 1), date(2025, 12, 31))
# The first seconds of commands after `serve` starts meet cold caches; `command_warm_p99_ms` leaves them out.
WARM_UP_SECONDS = 5.0


def open_ledger(database_url: str) -> Ledger:
    """The ledger on the benchmark's store, configured as the service configures it."""
    return Ledger(Settings(database_url=database_url).ledger_env())


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile `p` (0-100) of the values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def import_history(
    database_url: str,
    path: Path,
    batch_size: int,
    progress: Callable[[int, int], None],
    profile_file: Path | None = None,
) -> ImportSummary:
    """Import the generated history; optionally under cProfile."""
    ledger = open_ledger(database_url)
    profiler = cProfile.Profile() if profile_file else None
    try:
        if profiler is not None:
            profiler.enable()
        summary = import_file(ledger, path, batch_size=batch_size, progress=progress)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_file)
    finally:
        ledger.close()
    return summary


def raw_insert(
    database_url: str,
    events_per_transaction: int,
    progress: Callable[[int, int], None],
    recorder_class: type[PostgresApplicationRecorder] = PostgresLedgerRecorder,
) -> tuple[int, float]:
    """Insert the log's serialized rows again, straight into a copy of the events table, through
    `recorder_class` (by default the ledger's own, as the import writes); (events, seconds).

    Only the inserts are timed: reading the rows back out of the log is not.
    """
    ledger = open_ledger(database_url)
    recorder: Any = ledger.recorder
    datastore = recorder.datastore
    table = f'"{datastore.schema}"."{recorder.events_table_name}"'
    copy = recorder_class(datastore, events_table_name="bench_raw_events")
    copy.create_table()
    head = recorder.max_notification_id() or 0
    position = done = 0
    seconds = 0.0
    try:
        while True:
            with datastore.transaction(commit=False) as curs:
                curs.execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {table} "
                    "WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
                    (position, 20 * events_per_transaction),
                )
                rows = curs.fetchall()
            if not rows:
                break
            position = rows[-1]["notification_id"]
            stored = [
                StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
                for row in rows
            ]
            for i in range(0, len(stored), events_per_transaction):
                started = time.perf_counter()
                copy.insert_events(stored[i : i + events_per_transaction])
                seconds += time.perf_counter() - started
            done += len(stored)
            progress(done, head)
    finally:
        with datastore.transaction(commit=True) as curs:
            curs.execute('DROP TABLE IF EXISTS "{}"."bench_raw_events"'.format(datastore.schema))
        ledger.close()
    return done, seconds


def in_child(
    work: str, database_url: str, progress: Callable[[int, int], None], profile_file: Path | None = None
) -> dict[str, float]:
    """Run `benchmarks.child WORK` and return its last report (events, seconds, peak_rss_mb)."""
    command = [sys.executable, "-m", "benchmarks.child", work, database_url]
    if profile_file is not None:
        command.append(str(profile_file))
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=_child_env({}))
    assert child.stdout is not None
    result: dict[str, float] = {}
    for line in child.stdout:
        report = json.loads(line)
        if "progress" in report:
            progress(report["progress"], report["total"])
        else:
            result = report
    if child.wait() != 0 or not result:
        raise RuntimeError(f"benchmarks.child {work} failed with status {child.returncode}")
    return result


# --- queries ---------------------------------------------------------------------------------------


def _period(rnd: random.Random) -> tuple[date, date]:
    """A year, a quarter or a month of the history, at random."""
    year = rnd.randint(HISTORY[0].year, HISTORY[1].year)
    shape = rnd.choice(("year", "quarter", "month"))
    if shape == "year":
        return date(year, 1, 1), date(year, 12, 31)
    if shape == "quarter":
        first = rnd.choice((1, 4, 7, 10))
        end = date(year + (first == 10), (first + 3 - 1) % 12 + 1, 1) - timedelta(days=1)
        return date(year, first, 1), end
    month = rnd.randint(1, 12)
    end = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return date(year, month, 1), end


def _timed(samples: int, call: Callable[[], Any], warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def queries(database_url: str, samples: int, seed: int) -> dict[str, Any]:
    """p50 and p95 of the root report, a province's report, a cell's roster as of a day, a member's history
    and the loading of the largest cells from the store."""
    rnd = random.Random(seed)
    ledger = open_ledger(database_url)
    try:
        read_models = ReadModels(database_url, ledger)
        with read_models.db.transaction(commit=False) as cur:
            root = cur.execute("SELECT code FROM rm_org WHERE kind = 'central'").scalar()
            provinces = [c for (c,) in cur.execute(
                "SELECT code FROM rm_org WHERE kind = 'provincial' AND status = 'active' ORDER BY code").all()]
            cells = cur.execute(
                "SELECT code, founded_on, COALESCE(ended_on, '2026-01-01') FROM rm_org "
                "WHERE kind IN ('cell', 'grassroots_cell') ORDER BY code").all()
            members = [m for (m,) in cur.execute("SELECT member_id FROM rm_member ORDER BY member_id").all()]
            largest = [code for (code,) in cur.execute(
                "SELECT o.code FROM rm_stay s JOIN rm_org o ON o.org_key = s.cell_key "
                "WHERE s.valid_to = '9999-12-31' GROUP BY o.code ORDER BY COUNT(*) DESC, o.code LIMIT ?",
                (samples // 4 + 3,),
            ).all()]
        picked_cells = [rnd.choice(cells) for _ in range(samples + 3)]
        picked_members = [UUID(rnd.choice(members)) for _ in range(samples + 3)]

        def roster() -> Any:
            code, founded, ended = picked_cells.pop()
            first = max(date.fromisoformat(founded), HISTORY[0])
            last = min(date.fromisoformat(ended) - timedelta(days=1), HISTORY[1])
            day = first + timedelta(days=rnd.randint(0, max(0, (last - first).days)))
            return read_models.roster(code, day, "self", 100, 0)

        def load_cell() -> Any:
            # Each cell once, so each load reads the store (its snapshot and the events after it).
            return ledger.organization(largest.pop())

        figures = {
            "largest_cell_load": _timed(max(1, len(largest) - 3), load_cell),
            "root_report": _timed(max(10, samples // 4), lambda: read_models.report(root, *_period(rnd))),
            "province_report": _timed(samples, lambda: read_models.report(rnd.choice(provinces), *_period(rnd))),
            "cell_roster_as_of": _timed(samples, roster),
            "member_history": _timed(samples, lambda: read_models.member(picked_members.pop())),
        }
    finally:
        ledger.close()
    result: dict[str, Any] = {}
    for name, times in figures.items():
        result[f"{name}_p50_ms"] = round(percentile(times, 50), 2)
        result[f"{name}_p95_ms"] = round(percentile(times, 95), 2)
        result[f"{name}_samples"] = len(times)
    return result


# --- commands over HTTP ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DANGVIEN_")} | extra


def _commands(database_url: str, count: int, rnd: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """Admissions (half), official transfers and removals (a quarter each) of members in the store."""
    ledger = open_ledger(database_url)
    try:
        read_models = ReadModels(database_url, ledger)
        with read_models.db.transaction(commit=False) as cur:
            cells = [c for (c,) in cur.execute(
                "SELECT code FROM rm_org WHERE kind IN ('cell', 'grassroots_cell') AND status = 'active' ORDER BY code"
            ).all()]
            members = cur.execute(
                "SELECT m.member_id, o.code FROM rm_member m JOIN rm_org o ON o.org_key = m.cell_key "
                "WHERE m.removed_on IS NULL AND m.transfer IS NULL ORDER BY m.member_id"
            ).all()
    finally:
        ledger.close()
    chosen = rnd.sample(members, min(len(members), count))
    decision = {"number": "1-QĐ/ĐU", "issued_on": "2026-01-05"}
    commands: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        if i % 4 in (0, 1):
            person = {
                "national_id": f"097{rnd.randrange(10**9):09d}",
                "full_name": "Nguyễn Văn Bình",
                "birth_date": f"{rnd.randint(1980, 2005)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}",
                "sex": rnd.choice(("male", "female")),
                "ethnicity": "Kinh",
                "education": "upper_secondary",
            }
            body = {"person": person, "admitted_on": "2026-01-10", "decision": decision}
            commands.append((f"/v1/organizations/{rnd.choice(cells)}/admissions", body))
        else:
            member_id, cell = chosen.pop()
            if i % 4 == 2:
                to = rnd.choice([c for c in rnd.sample(cells, min(2, len(cells))) if c != cell] or cells)
                body = {"to": to, "kind": "official", "issued_on": "2026-01-12", "decision": decision}
                commands.append((f"/v1/organizations/{cell}/members/{member_id}/transfers", body))
            else:
                body = {"reason": "deceased", "effective_on": "2026-01-12", "decision": decision}
                commands.append((f"/v1/organizations/{cell}/members/{member_id}/removal", body))
    return commands


def http_commands(database_url: str, count: int, rate: float, seed: int) -> dict[str, Any]:
    """Single commands over HTTP, one every 1/rate seconds, to a `dangvien serve` process; latencies."""
    rnd = random.Random(seed)
    commands = _commands(database_url, count, rnd)
    token = "dv_bench-" + secrets.token_hex(12)
    port = _free_port()
    env = _child_env({"DANGVIEN_DATABASE_URL": database_url, "DANGVIEN_ADMIN_TOKEN": token,
                      "DANGVIEN_LOG_LEVEL": "warning"})
    server = subprocess.Popen(
        [sys.executable, "-c", "from service.cli import main; main()", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    # Those of commands sent once the process had served WARM_UP_SECONDS of them (caches filled).
    warm: list[float] = []
    statuses: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"dangvien serve exited: {server.stderr.read() if server.stderr else ''}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("dangvien serve did not start within a minute")
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            # As a load balancer would: no commands before the service says it is ready.
            while client.get("/readyz").status_code != 200:
                if time.monotonic() > deadline + 60:
                    raise RuntimeError("dangvien serve was not ready within two minutes")
                time.sleep(0.1)
            started = time.perf_counter()
            for i, (path, body) in enumerate(commands):
                wait = started + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                response = client.post(path, json=body)
                elapsed = (time.perf_counter() - sent) * 1000
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code < 300:
                    latencies.append(elapsed)
                    if sent - started >= WARM_UP_SECONDS:
                        warm.append(elapsed)
            seconds = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {
        "command_p50_ms": round(percentile(latencies, 50), 2),
        "command_p99_ms": round(percentile(latencies, 99), 2),
        "command_max_ms": round(max(latencies, default=float("nan")), 2),
        "command_warm_p99_ms": round(percentile(warm, 99), 2) if warm else None,
        "command_count": len(commands),
        "command_rate_per_s": round(len(commands) / seconds, 1),
        "command_statuses": {str(k): v for k, v in sorted(statuses.items())},
    }
