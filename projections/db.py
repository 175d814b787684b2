"""One way to run SQL on the ledger's own database, whether SQLite or PostgreSQL.

Read models live beside the events, in the same database, and are written through the event
store's own connection pool, so on SQLite they share its writer lock. SQL is written once with
`?` placeholders; this module rewrites it for psycopg. Dates are stored as ISO text on both stores,
which compares correctly and keeps the two dialects identical.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import TrackingRecorder
from psycopg.rows import tuple_row

OPEN_END = "9999-12-31"


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
        if rows:
            self.raw.executemany(self._sql(sql), [tuple(r) for r in rows])

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

    def in_list(self, values: Sequence[Any]) -> str:
        """Placeholders for an IN (...) list."""
        return ",".join("?" * len(values)) or "NULL"
