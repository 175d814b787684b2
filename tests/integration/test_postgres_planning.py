"""How the ledger keeps PostgreSQL's planner on the right plans for its reads of streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain.ledger import Ledger
from service.importer import import_file
from tests.builders import national_id
from tests.integration.test_import import admission, tree, write_commands

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def test_the_ledger_s_connections_never_compile_queries(ledger: Ledger) -> None:
    """JIT is off for the ledger's sessions: a stream's read misjudged as large spent 80-130 ms
    compiling itself."""
    ledger.recorder.max_notification_id()  # the pool opens
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("SHOW jit")
        assert cursor.fetchone()["jit"] == "off"


def _analyzed(ledger: Ledger) -> bool:
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            "SELECT count(*) AS n FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = 'originator_id'",
            (recorder.datastore.schema, recorder.events_table_name),
        )
        return bool(cursor.fetchone()["n"])


def test_an_import_leaves_the_log_analyzed(ledger: Ledger, tmp_path: Path) -> None:
    """The planner has statistics of the log after an import, without waiting for the autovacuum."""
    codes, founding = tree()
    assert not _analyzed(ledger)
    commands = [*founding, *(admission(codes["cell_a"], national_id()) for _ in range(5))]
    summary = import_file(ledger, write_commands(tmp_path, commands), statistics_after=4)
    assert summary.events > 4 and _analyzed(ledger)
