"""Short transactions on the service's own tables (tokens, idempotency keys), SQLite or PostgreSQL.

SQL is written once, portable, with `?` placeholders; for psycopg they become `%s`. The tables
live in the same database as the events, beside them, through their own small connection pool.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from service.settings import SQLITE_LOCK_TIMEOUT, Database


class Cursor:
    """A cursor that speaks `?` placeholders and returns plain tuples on both stores."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self.raw = raw
        self.postgres = postgres

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement."""
        self.raw.execute(sql.replace("?", "%s") if self.postgres else sql, tuple(params))
        return self

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        return int(self.raw.rowcount)

    def one(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        row = self.raw.fetchone()
        return None if row is None else tuple(row)


def conninfo(database: Database, connect_timeout: float) -> str:
    """The libpq connection string of a PostgreSQL database."""
    # Imported here: a SQLite deployment never needs the PostgreSQL driver loaded.
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        host=database.host,
        port=database.port,
        user=database.user,
        password=database.password,
        dbname=database.dbname,
        connect_timeout=int(connect_timeout),
    )


class SqlStore:
    """Connections to the service's database: a new one per transaction on SQLite, a pool on PostgreSQL."""

    def __init__(self, database: Database, pool_size: int, connect_timeout: float) -> None:
        self.database = database
        self.postgres = database.engine == "postgres"
        self.pool: Any = None
        if self.postgres:
            # Imported here: a SQLite deployment never needs the PostgreSQL driver loaded.
            from psycopg_pool import ConnectionPool

            self.pool = ConnectionPool(
                conninfo(database, connect_timeout), min_size=1, max_size=pool_size, timeout=connect_timeout,
                open=False,
            )

    def open(self) -> None:
        """Open the pool (PostgreSQL) and wait for its first connection."""
        if self.pool is not None:
            self.pool.open(wait=True)

    def close(self) -> None:
        """Close every pooled connection."""
        if self.pool is not None:
            self.pool.close()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Cursor]:
        """A transaction, committed when the block ends without an exception."""
        if self.postgres:
            with self.pool.connection() as conn, conn.transaction():
                yield Cursor(conn.cursor(), postgres=True)
            return
        conn = sqlite3.connect(self.database.path, timeout=SQLITE_LOCK_TIMEOUT, isolation_level=None)
        try:
            # A writer takes the lock up front, so a read-then-write cannot deadlock; a reader
            # takes none, so looking up a token never waits behind the ledger's writers.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Cursor(conn.cursor(), postgres=False)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.transaction(write=False) as cur:
            cur.execute("SELECT 1").one()
