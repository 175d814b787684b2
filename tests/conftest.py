"""Stores for tests: every test that takes `database_url` runs once on SQLite, once on PostgreSQL.

- `database_url`: a fresh, empty store per test, `sqlite:///...` or `postgresql://...`; the
  PostgreSQL runs carry the `postgres` marker, so `pytest -m "not postgres"` runs only SQLite.
- `postgres_database_url`: a fresh PostgreSQL database, for PostgreSQL-only tests.
- `postgres_server_url`: the session's server: `DANGVIEN_TEST_POSTGRES_URL` if set (its role needs
  CREATEDB), else a throw-away server from tests/pgserver.py. Without PostgreSQL binaries the
  tests fail, unless `DANGVIEN_TEST_SKIP_POSTGRES=1` makes them skip.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgserver import PostgresNotInstalled, PostgresServer, temporary_database


# First, so that `-m "not postgres"`, applied in the same hook, sees the marker.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `postgres` every test whose fixtures need the PostgreSQL server."""
    for item in items:
        if "postgres_server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server whose role may create databases, for the whole session."""
    url = os.environ.get("DANGVIEN_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        server = PostgresServer()
    except PostgresNotInstalled as missing:
        if os.environ.get("DANGVIEN_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(f"{missing} (skipped: DANGVIEN_TEST_SKIP_POSTGRES=1)")
        pytest.fail(f"{missing}; or set DANGVIEN_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests")
    with server:
        yield server.url


@pytest.fixture
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test alone, dropped afterwards."""
    with temporary_database(postgres_server_url) as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty store for this test alone, on SQLite and then on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
    else:
        # Looked up lazily so that a SQLite-only run never starts a server.
        yield request.getfixturevalue("postgres_database_url")
