"""The ledger's PostgreSQL event recorder: the library's own, with bulk writes through COPY.

The library inserts events as one array of composite values, which psycopg renders as text,
escaping every byte of every event's state: that is most of what an import spends writing. Past
`COPY_FROM` events, this recorder copies them in binary instead, in the same transaction, under
the same table lock and with the same notification as the library's insert, so positions still
commit in order and listeners still wake. Smaller writes (single commands) take the library's path.

It also keeps a small partial index of the events that place organizations in the tree (`Founded`,
`Reparented`): the event feed reads all of them when the service starts, and without the index
that is a scan of the whole log (5 s at a tenth of the country, growing with the log).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic, retry
from psycopg import sql
from psycopg.errors import InterfaceError, OperationalError

from domain.organization import Organization
from projections.events import notification_of

COPY_FROM = 200
# The events that place an organization in the tree, in the order of the log.
STRUCTURE_TOPICS = (get_topic(Organization.Founded), get_topic(Organization.Reparented))


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """`PostgresApplicationRecorder`, copying large writes instead of inserting them, with an index
    of the tree's events."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        # The ledger asks its store for one stream, or for the log in order: no query of it is
        # worth compiling. With JIT on, a read of a member's two events that the planner took for
        # a large one (the log not analyzed yet) spent 80-130 ms compiling, in every command.
        # The pool reads its connection arguments at each connection it makes; those it made
        # already (for the library's other tables) are made again.
        pool = datastore.pool
        options = pool.kwargs.get("options", "") if isinstance(pool.kwargs, dict) else "jit="
        if "jit=" not in options:
            pool.kwargs["options"] = f"{options} -c jit=off".strip()
            if not pool.closed:
                pool.drain()
        table = sql.Identifier(self.datastore.schema, self.events_table_name)
        # The topics are literals, in the index and in the query alike, so that the planner can
        # see that the query's rows are the index's.
        self._structure_condition = sql.SQL("topic IN ({})").format(
            sql.SQL(", ").join(sql.Literal(t) for t in STRUCTURE_TOPICS)
        )
        self.sql_create_statements.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (notification_id) WHERE {}").format(
                sql.Identifier(f"{self.events_table_name}_structure_idx"[: self.MAX_IDENTIFIER_LEN]),
                table,
                self._structure_condition,
            )
        )
        self._select_structure = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE {} AND notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        ).format(table, self._structure_condition)

    def analyze(self) -> None:
        """Refresh the planner's statistics of the log (ANALYZE, a sample of its rows).

        The server's autovacuum cannot do it while a bulk import runs: every batch takes the
        table lock that serializes writers, and the lock cancels the autovacuum each time (at a
        tenth of the country the log was never analyzed once in 3.8 million events, and the
        planner took every stream for 100,000 events long).
        """
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(self.datastore.schema, self.events_table_name)))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_structure_notifications(self, after: int, upto: int, limit: int) -> list[Notification]:
        """The `Founded` and `Reparented` events after position `after` and up to `upto`, in order."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_structure, (after, upto, limit), prepare=True)
            return [notification_of(row) for row in curs.fetchall()]

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
