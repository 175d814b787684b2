"""One way to run SQL on the ledger's own database, whether SQLite or PostgreSQL.

Read models live beside the events, in the same database, and are written through the event
store's own connection pool, so on SQLite they share its writer lock. SQL is written once with
`?` placeholders; this module rewrites it for psycopg. Dates are stored as ISO text on both stores,
which compares correctly and keeps the two dialects identical.
"""

from __future__ import annotations

import re

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import TrackingRecorder
from psycopg.rows import tuple_row

OPEN_END = "9999-12-31"


# From how many rows an insert on PostgreSQL goes through COPY rather than a statement per row.
COPY_FROM = 50
INSERT = re.compile(
    r"INSERT INTO (?P<table>\w+) \((?P<columns>[^)]*)\) VALUES \([?, ]*\)\s*(?P<tail>.*)\Z", re.DOTALL
)


_COLUMN_TYPES: dict[tuple[str, str], list[int]] = {}


class Cursor:
    """A cursor that speaks `?` placeholders and returns plain tuples on both stores."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self.raw = raw
        self.postgres = postgres
        if postgres:
            # The library's pool hands out dict rows; columns such as two COUNT(*) would collide.
            raw.row_factory = tuple_row

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self.raw.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run an `INSERT INTO t (columns) VALUES (?, ...)`, with or without `ON CONFLICT`, for every row.

        On PostgreSQL many rows are copied (COPY): straight into the table for a plain insert, else
        into a temporary twin of the table and inserted from there in one statement. Sent one
        statement per row, they are what a rebuild spends most of its time on. The rows of one
        call must not share a conflict key.
        """
        if not rows:
            return
        if not self.postgres or len(rows) < COPY_FROM:
            self.raw.executemany(self._sql(sql), [tuple(r) for r in rows])
            return
        found = INSERT.match(sql)
        assert found is not None, f"not an INSERT ... VALUES statement: {sql}"
        table, columns, tail = found["table"], found["columns"], found["tail"]
        if not tail.strip():
            # A plain insert: straight into the table.
            self._copy(table, columns, rows)
            return
        staging = f"staging_{table}"
        self.raw.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS")
        self._copy(staging, columns, rows)
        self.raw.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} {tail}")
        # The same table may be written again before the transaction ends.
        self.raw.execute(f"TRUNCATE {staging}")

    def _copy(self, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        """COPY the rows into the table's columns, in binary (faster to write than text)."""
        types = self._column_types(table, columns)
        with self.raw.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _column_types(self, table: str, columns: str) -> list[int]:
        """The type of each of the columns (a binary COPY must name them), asked once per process."""
        key = (table, columns)
        types = _COLUMN_TYPES.get(key)
        if types is None:
            self.raw.execute(f"SELECT {columns} FROM {table} LIMIT 0")
            types = _COLUMN_TYPES[key] = [column.type_code for column in self.raw.description]
        return types

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a query, `size` at a time, without holding them all: on PostgreSQL through a
        server-side cursor in the same transaction (a plain cursor receives every row at once)."""
        if self.postgres:
            with self.raw.connection.cursor(name="dangvien_stream", row_factory=tuple_row) as named:
                named.execute(self._sql(sql), tuple(params))
                while rows := named.fetchmany(size):
                    yield rows
            return
        # The library's SQLite cursor wraps the sqlite3 one, which reads a step at a time.
        sqlite_cursor = self.raw.sqlite_cursor
        sqlite_cursor.execute(sql, tuple(params))
        while rows := sqlite_cursor.fetchmany(size):
            yield [tuple(r) for r in rows]

    def all(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.raw.fetchall()]

    def one(self) -> tuple[Any, ...] | None:
        row = self.raw.fetchone()
        return None if row is None else tuple(row)

    def scalar(self) -> Any:
        row = self.one()
        return None if row is None else row[0]


class Database:
    """Transactions on the datastore of a tracking recorder made by the ledger's own factory."""

    def __init__(self, recorder: TrackingRecorder) -> None:
        self.recorder = recorder
        self.datastore = recorder.datastore  # type: ignore[attr-defined]
        self.postgres = type(self.datastore).__name__.startswith("Postgres")

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[Cursor]:
        """A transaction; committed on success when `commit`, else rolled back."""
        with self.datastore.transaction(commit=commit) as raw:
            yield Cursor(raw, self.postgres)

    @property
    def no_limit(self) -> int | None:
        """The value of `LIMIT ?` that sets no limit: NULL on PostgreSQL, a negative one on SQLite."""
        return None if self.postgres else -1

    def in_list(self, values: Sequence[Any]) -> str:
        """Placeholders for an IN (...) list."""
        return ",".join("?" * len(values)) or "NULL"
