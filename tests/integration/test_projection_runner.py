"""The projection runner applies every event exactly once, however often it is killed."""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from domain.ledger import Ledger
from domain.values import Kind, RemovalReason, TransferKind
from projections import ReadModels, rebuild, schema
from tests.builders import CLERK, admit, build_tree, decision, found
from tests.integration.test_report_properties import dump
from tests.ledger_env import ledger_env

ROOT = Path(__file__).resolve().parents[2]
PROJECTOR = """
import sys
from domain.ledger import Ledger
from projections import ReadModels
from tests.ledger_env import ledger_env
url = sys.argv[1]
ledger = Ledger(ledger_env(url))
ReadModels(url, ledger).catch_up(batch_size=int(sys.argv[2]))
"""


def record_history(ledger: Ledger, rng: random.Random) -> None:
    """A few years of a commune: admissions, confirmations, transfers, removals and a merger."""
    tree = build_tree(ledger)
    extra = found(ledger, "HN.BADINH.KDC3", "Chi bộ khu dân cư số 3", Kind.GRASSROOTS_CELL, tree.commune)
    cells = [tree.cell_a, tree.cell_b, tree.cell_c, extra]
    members = []
    for i in range(200):
        cell = rng.choice(cells)
        admission, _ = admit(ledger, cell, date(2019, 1, 1) + timedelta(days=rng.randrange(500)))
        members.append((admission.member_id, cell))
    for member_id, cell in members[:100]:
        ledger.confirm_membership(cell, member_id, date(2021, 6, 1), decision(date(2021, 6, 1)), CLERK)
    for member_id, cell in members[100:140]:
        to = rng.choice([c for c in cells if c != cell])
        issued = ledger.issue_transfer(cell, member_id, to, TransferKind.OFFICIAL, date(2021, 7, 1), None,
                                       decision(date(2021, 7, 1)), CLERK)
        ledger.receive_transfer(to, issued.transfer_id, date(2021, 7, 20), CLERK)
    for member_id, cell in members[140:160]:
        ledger.remove_member(cell, member_id, RemovalReason.DECEASED, date(2022, 1, 1), decision(date(2022, 1, 1)), CLERK)
    ledger.merge_organization(extra, tree.cell_a, date(2023, 1, 1), decision(date(2022, 12, 1)), CLERK)


def test_killing_the_projector_at_any_moment_and_starting_it_again_applies_each_event_once(
    database_url: str,
) -> None:
    """SIGKILL at random moments, restart until caught up: the read models equal a fresh rebuild."""
    rng = random.Random(20251)
    ledger = Ledger(ledger_env(database_url))
    record_history(ledger, rng)
    head = ledger.recorder.max_notification_id()
    read_models = ReadModels(database_url, ledger)
    kills_midway = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(300):
        before = read_models.position()
        if before >= head:
            break
        process = subprocess.Popen([sys.executable, "-c", PROJECTOR, database_url, "2"], env=env, cwd=ROOT)
        # Kill when the runner has gone a random way further: wherever it is in its batch then.
        target = rng.randint(before + 1, head + 20)
        while process.poll() is None and read_models.position() < target:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.03))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if before < read_models.position() < head:
            kills_midway += 1
    assert kills_midway >= 2, "the projector was never killed mid-way: make the history longer"
    assert read_models.position() == head
    after_kills = dump(read_models)
    rebuild(ledger)
    assert dump(read_models) == after_kills


def test_a_rebuild_freezes_what_survives_its_batches_and_thaws_it_at_the_end(database_url: str) -> None:
    """The collector does not rescan the rebuild's long-lived objects (domain.collector)."""
    ledger = Ledger(ledger_env(database_url))
    record_history(ledger, random.Random(7))
    frozen: list[int] = []
    events, _ = rebuild(ledger, progress=lambda done, total: frozen.append(gc.get_freeze_count()))
    assert events > 0 and frozen
    assert min(frozen) > 0
    assert gc.get_freeze_count() == 0


@pytest.mark.postgres
def test_rebuilding_again_does_not_leave_the_old_rows_dead_in_the_tables(postgres_database_url: str) -> None:
    """On PostgreSQL the read models are emptied with TRUNCATE: deleted rows would stay on disk
    until a vacuum, and every rebuild would make the tables and their indexes larger."""
    ledger = Ledger(ledger_env(postgres_database_url))
    record_history(ledger, random.Random(11))

    def size() -> int:
        with psycopg.connect(postgres_database_url) as conn:
            row = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "WHERE c.relkind = 'r' AND c.relname = ANY(%s)",
                (list(schema.TABLES),),
            ).fetchone()
        return int(row[0]) if row else 0

    rebuild(ledger)
    first = size()
    rebuild(ledger)
    rebuild(ledger)
    assert size() <= first * 1.1


@pytest.mark.postgres
def test_a_rebuild_leaves_every_page_of_the_read_models_vacuumed(postgres_database_url: str) -> None:
    """Every page a rebuild wrote is marked visible to all and counted for the planner, so that
    neither the first queries nor an autovacuum does it behind later requests."""
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        # As in production: the tests' server commits asynchronously, and a row whose commit is
        # not yet flushed cannot be hinted as committed, so its page cannot be marked all-visible.
        name = conn.info.dbname
        conn.execute(psycopg.sql.SQL("ALTER DATABASE {} SET synchronous_commit = on").format(psycopg.sql.Identifier(name)))
    ledger = Ledger(ledger_env(postgres_database_url))
    record_history(ledger, random.Random(5))
    rebuild(ledger)
    with psycopg.connect(postgres_database_url) as conn:
        pages = {
            name: (total, visible)
            for name, total, visible in conn.execute(
                "SELECT relname, relpages, relallvisible FROM pg_class WHERE relkind = 'r' AND relname = ANY(%s)",
                (list(schema.TABLES),),
            ).fetchall()
        }
    assert pages["rm_member"][0] > 0 and pages["rm_event"][0] > 0 and pages["rm_event_member"][0] > 0
    assert {name: visible for name, (_, visible) in pages.items()} == {name: total for name, (total, _) in pages.items()}


def test_the_runner_in_the_background_lets_a_client_read_its_own_writes(database_url: str) -> None:
    """A command's position is reached by the background runner, and the roster shows the member."""
    ledger = Ledger(ledger_env(database_url))
    tree = build_tree(ledger)
    read_models = ReadModels(database_url, ledger)
    read_models.start()
    try:
        admission, candidate = admit(ledger, tree.cell_a)
        assert read_models.wait_for(admission.position, timeout=10)
        roster = read_models.roster(tree.cell_a, date(2025, 1, 1), "self", 10, 0)
        assert [m["full_name"] for m in roster["members"]] == [candidate.full_name]
    finally:
        read_models.stop()


def test_waiting_for_a_position_not_yet_recorded_gives_up_after_the_timeout(database_url: str) -> None:
    """wait_for answers False when the read models cannot reach the position in time."""
    ledger = Ledger(ledger_env(database_url))
    read_models = ReadModels(database_url, ledger)
    read_models.start()
    try:
        started = time.monotonic()
        assert read_models.wait_for(10_000, timeout=0.3) is False
        assert time.monotonic() - started >= 0.3
    finally:
        read_models.stop()


def test_read_models_of_another_version_are_dropped_and_made_again_from_the_events(database_url: str) -> None:
    """A projector meeting read models kept by another version of itself starts them again from
    the first event; caught up, they equal a fresh rebuild."""
    ledger = Ledger(ledger_env(database_url))
    record_history(ledger, random.Random(7))
    read_models = ReadModels(database_url, ledger)
    read_models.catch_up()
    expected = dump(read_models)
    with read_models.db.transaction() as cur:
        cur.execute("UPDATE rm_meta SET value = '1' WHERE name = 'version'")
        cur.execute("DELETE FROM rm_stay")  # the old version kept rosters otherwise
    again = ReadModels(database_url, ledger)
    assert again.projector.position() == 0
    again.catch_up()
    assert dump(again) == expected
    with again.db.transaction(commit=False) as cur:
        assert cur.execute("SELECT value FROM rm_meta WHERE name = 'version'").scalar() == str(schema.VERSION)
    ledger.close()


def test_read_models_kept_before_versions_were_are_made_again(database_url: str) -> None:
    """Read models that got somewhere but carry no version (kept before versions were) are rebuilt too."""
    ledger = Ledger(ledger_env(database_url))
    record_history(ledger, random.Random(8))
    read_models = ReadModels(database_url, ledger)
    read_models.catch_up(batch_size=100)
    with read_models.db.transaction() as cur:
        cur.execute("DELETE FROM rm_meta")
    assert ReadModels(database_url, ledger).projector.position() == 0
    ledger.close()
