"""The ledger on a fresh store, once on SQLite and once on PostgreSQL (`database_url`)."""

from collections.abc import Iterator
from datetime import date

import pytest

from domain.ledger import Ledger
from tests.builders import Tree, build_tree
from tests.ledger_env import ledger_env

TODAY = date(2026, 1, 15)


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """The ledger application on this test's own empty store; `today` is 15 January 2026."""
    application = Ledger(ledger_env(database_url), today=lambda: TODAY)
    try:
        yield application
    finally:
        application.close()


@pytest.fixture
def tree(ledger: Ledger) -> Tree:
    """A province, a commune committee, two grassroots cells and a committee with one cell."""
    return build_tree(ledger)
