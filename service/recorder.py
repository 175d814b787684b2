"""The ledger's PostgreSQL event recorder: the library's own, with bulk writes through COPY.

The library inserts events as one array of composite values, which psycopg renders as text,
escaping every byte of every event's state: that is most of what an import spends writing. Past
`COPY_FROM` events, this recorder copies them in binary instead, in the same transaction, under
the same table lock and with the same notification as the library's insert, so positions still
commit in order and listeners still wake. Smaller writes (single commands) take the library's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import sql
from psycopg.errors import InterfaceError, OperationalError

COPY_FROM = 200


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """`PostgresApplicationRecorder`, copying large writes instead of inserting them."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if len(stored_events) < COPY_FROM or kwargs.get("tracking") is not None:
            return super().insert_events(stored_events, **kwargs)
        table = sql.Identifier(self.datastore.schema, self.events_table_name)
        copy_statement = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            with curs.copy(copy_statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for event in stored_events:
                    copy.write_row((event.originator_id, event.originator_version, event.topic, event.state))
            # The table lock keeps every other writer off the sequence until this commits, so the
            # copied rows took the sequence's next values in the order they were written.
            curs.execute(
                sql.SQL("SELECT currval(pg_get_serial_sequence({}, 'notification_id')) AS last").format(
                    sql.Literal(f'"{self.datastore.schema}"."{self.events_table_name}"')
                )
            )
            row = curs.fetchone()
            assert row is not None
            last = int(row["last"])
        return list(range(last - len(stored_events) + 1, last + 1))
