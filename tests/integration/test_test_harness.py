"""The store fixtures themselves: fresh, private, writable databases on each backend."""

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg
import pytest

from tests.pgserver import temporary_database


@contextmanager
def cursor(database_url: str) -> Iterator[sqlite3.Cursor | psycopg.Cursor[Any]]:
    """Open a committing cursor on the store behind a sqlite:/// or postgresql:// URL."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as lite, lite:
            yield lite.cursor()
    else:
        with psycopg.connect(database_url) as connection:
            yield connection.cursor()


def table_names(database_url: str) -> list[str]:
    """The names of the user tables in the store."""
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if database_url.startswith("sqlite:///")
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    with cursor(database_url) as cur:
        cur.execute(query)
        return [name for (name,) in cur.fetchall()]


def test_fresh_database_is_empty_and_keeps_what_is_written(database_url: str) -> None:
    """A test's store starts with no tables and returns the rows written to it."""
    assert table_names(database_url) == []
    with cursor(database_url) as cur:
        cur.execute("CREATE TABLE member (name TEXT NOT NULL)")
        cur.execute("INSERT INTO member (name) VALUES ('Nguyễn Văn A')")
    with cursor(database_url) as cur:
        cur.execute("SELECT name FROM member")
        assert cur.fetchall() == [("Nguyễn Văn A",)]


@pytest.mark.parametrize("writer", ["first", "second"])
def test_tests_never_share_a_database(database_url: str, writer: str) -> None:
    """Two tests on the same backend each find only their own row in a table both create."""
    with cursor(database_url) as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS mark (writer TEXT NOT NULL)")
        cur.execute(f"INSERT INTO mark (writer) VALUES ('{writer}')")
    with cursor(database_url) as cur:
        cur.execute("SELECT writer FROM mark")
        assert cur.fetchall() == [(writer,)]


def test_temporary_database_is_dropped_on_exit(postgres_server_url: str) -> None:
    """A temporary PostgreSQL database, with a table and a connection left open, is gone after."""
    with temporary_database(postgres_server_url) as url:
        name = url.rsplit("/", 1)[1]
        lingering = psycopg.connect(url)
        lingering.execute("CREATE TABLE member (name TEXT)")
        lingering.commit()
    with psycopg.connect(postgres_server_url) as maintenance:
        rows = maintenance.execute(
            "SELECT datname FROM pg_database WHERE datname = %s", (name,)
        ).fetchall()
    assert rows == []
    with closing(lingering), pytest.raises(psycopg.OperationalError):
        lingering.execute("SELECT 1")
