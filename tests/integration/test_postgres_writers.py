"""Writers of the log on PostgreSQL take turns on the recorder's own lock, so that positions commit
in order, and leave the table to VACUUM and ANALYZE (service/recorder.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from domain.ledger import Ledger
from tests.builders import Tree, admit

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

# How long a command may take here, unhindered (the store's lock timeout is five seconds).
PROMPT = 3.0


@pytest.fixture
def other(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A second session on the test's database, as another process (or the autovacuum) would hold."""
    with psycopg.connect(database_url) as connection:
        yield connection


def _admit_in_background(ledger: Ledger, tree: Tree) -> tuple[ThreadPoolExecutor, Future[Any]]:
    pool = ThreadPoolExecutor(max_workers=1)
    return pool, pool.submit(admit, ledger, tree.cell_a)


def _table(ledger: Ledger) -> str:
    recorder: Any = ledger.recorder
    return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'


def test_a_command_is_not_held_up_by_an_analyze_of_the_log(
    ledger: Ledger, tree: Tree, other: psycopg.Connection[Any]
) -> None:
    """An ANALYZE (or VACUUM) of the log holds a lock that the library's table lock waits for: the
    autovacuum was cancelled each time, after making a command wait a second."""
    other.execute(f"ANALYZE {_table(ledger)}")  # in a transaction: its lock is held until the rollback
    pool, admitted = _admit_in_background(ledger, tree)
    try:
        admission = admitted.result(timeout=PROMPT)[0]
    finally:
        other.rollback()
        pool.shutdown()
    assert admission.position == ledger.recorder.max_notification_id()


@pytest.mark.parametrize("holder", ["this version's writer", "a writer of the version before"])
def test_a_command_waits_for_the_writer_before_it_to_commit(
    ledger: Ledger, tree: Tree, other: psycopg.Connection[Any], holder: str
) -> None:
    """A writer in the middle of its transaction keeps the next one off the log until it commits,
    whether it takes this recorder's lock or, during a rolling upgrade, the library's table lock:
    so every position is committed before any later one is given out."""
    if holder == "this version's writer":
        for statement in ledger.recorder.lock_table_statements:  # type: ignore[attr-defined]
            other.execute(statement)
    else:
        other.execute(f"LOCK TABLE {_table(ledger)} IN EXCLUSIVE MODE")
    before = ledger.recorder.max_notification_id()
    pool, admitted = _admit_in_background(ledger, tree)
    try:
        time.sleep(0.5)
        assert not admitted.done() and ledger.recorder.max_notification_id() == before
    finally:
        other.commit()
    try:
        admission = admitted.result(timeout=PROMPT)[0]
    finally:
        pool.shutdown()
    assert admission.position > (before or 0)


def test_concurrent_writers_commit_their_positions_in_order(ledger: Ledger, tree: Tree) -> None:
    """A reader that follows the log while writers write never passes a position that commits later."""
    cells = [tree.cell_a, tree.cell_b, tree.cell_c]
    stop = threading.Event()
    seen: list[int] = []

    def follow() -> None:
        position = ledger.recorder.max_notification_id() or 0
        while not stop.is_set() or position < (ledger.recorder.max_notification_id() or 0):
            found = ledger.recorder.select_notifications(start=position, limit=100, inclusive_of_start=False)
            seen.extend(n.id for n in found)
            position = found[-1].id if found else position

    start = ledger.recorder.max_notification_id() or 0
    reader = threading.Thread(target=follow)
    reader.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            for future in [pool.submit(admit, ledger, cells[i % 3]) for i in range(60)]:
                future.result(timeout=60)
    finally:
        stop.set()
        reader.join(timeout=30)
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"SELECT notification_id FROM {_table(ledger)} WHERE notification_id > %s ORDER BY 1", (start,))
        stored = [row["notification_id"] for row in cursor.fetchall()]
    assert len(stored) >= 120 and seen == stored
