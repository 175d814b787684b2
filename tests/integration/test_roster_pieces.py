"""A roster is read in pieces in one transaction, so that the roster of a province or of the
country never sits whole in the service's memory; the pieces make exactly the whole roster."""

from __future__ import annotations

from datetime import date

import pytest

from domain.ledger import Ledger
from projections import ReadModels, read_models
from tests.builders import Tree, admit


def test_the_pieces_of_a_roster_are_its_members_in_order(
    ledger: Ledger, tree: Tree, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(7):
        admit(ledger, tree.cell_a)
    models = ReadModels(database_url, ledger)
    models.catch_up()
    monkeypatch.setattr(read_models, "ROSTER_PIECE", 3)
    head, *pieces = models.roster_pieces(tree.cell_a, date(2026, 1, 1), "self")
    assert (head["total"], head["members"]) == (7, [])
    assert [len(piece) for piece in pieces] == [3, 3, 1]
    whole = models.roster(tree.cell_a, date(2026, 1, 1), "self")
    assert [m for piece in pieces for m in piece] == whole["members"]
    assert [m["full_name"] for m in whole["members"]] == sorted(m["full_name"] for m in whole["members"])
    _, *page = models.roster_pieces(tree.cell_a, date(2026, 1, 1), "self", limit=4, offset=2)
    assert [m for piece in page for m in piece] == whole["members"][2:6]


def test_on_postgres_the_members_come_through_a_server_side_cursor(
    ledger: Ledger, tree: Tree, database_url: str
) -> None:
    """A plain psycopg cursor receives every row of a result at once; a named one, as it is read."""
    models = ReadModels(database_url, ledger)
    if not models.db.postgres:
        pytest.skip("SQLite's cursor reads a step at a time by itself")
    seen: list[list[str]] = []
    with models.db.transaction(commit=False) as cur:
        for rows in cur.stream("SELECT n FROM generate_series(1, 5) AS n", size=2):
            seen.append([name for (name,) in cur.execute("SELECT name FROM pg_cursors").all()])
            assert len(rows) <= 2
    assert seen == [["dangvien_stream"]] * 3
