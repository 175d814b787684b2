"""The ledger's PostgreSQL event recorder: the library's own, with bulk writes through COPY.

The library inserts events as one array of composite values, which psycopg renders as text,
escaping every byte of every event's state: that is most of what an import spends writing. Past
`COPY_FROM` events, this recorder copies them in binary instead, in the same transaction, under
the same writers' lock and with the same notification as the library's insert, so positions still
commit in order and listeners still wake. Smaller writes (single commands) take the library's path.

Writers take turns on an advisory lock of the log rather than the library's table lock (`LOCK
TABLE ... IN EXCLUSIVE MODE`), which also conflicts with the lock that VACUUM and ANALYZE hold: on
a log written without pause, each autovacuum of it waited for a command to ask for the table and
was then cancelled, after the command had waited a second for it (PostgreSQL's deadlock timeout).
The log was never vacuumed nor analyzed, and an anti-wraparound vacuum, which is not cancelled,
would have stopped every command for as long as it took. The advisory lock serializes writers just
as the table lock did, so positions commit in order; and a writer of an older version, still taking
the table lock during a rolling upgrade, is kept apart too, since the table lock conflicts with the
lock every INSERT and COPY takes.

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
        # The ledger asks its store for one stream, or for the log in order: no query of it is
        # worth compiling. With JIT on, a read of a member's two events that the planner took for
        # a large one (the log not analyzed yet) spent 80-130 ms compiling, in every command.
        # Set before the library's constructor opens the pool; the pool reads its connection
        # arguments at each connection it makes.
        pool = datastore.pool
        options = pool.kwargs.get("options", "") if isinstance(pool.kwargs, dict) else "jit="
        if "jit=" not in options:
            pool.kwargs["options"] = f"{options} -c jit=off".strip()
            if not pool.closed:
                pool.drain()  # opened already, by another recorder on the same store
        super().__init__(datastore, **kwargs)
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
        # Writers take turns on an advisory lock keyed by the log's own table (see the module's
        # docstring), within the library's lock timeout.
        self.lock_table_statements = [
            self.lock_table_statements[0],
            sql.SQL("SELECT pg_advisory_xact_lock({}::regclass::oid::bigint)").format(
                sql.Literal(f'"{self.datastore.schema}"."{self.events_table_name}"')
            ),
        ]
        self._select_structure = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE {} AND notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        ).format(table, self._structure_condition)

    def analyze(self) -> None:
        """Refresh the planner's statistics of the log (ANALYZE, a sample of its rows).

        The server's autovacuum does it in its own time (every minute at most, once a tenth of
        the table is new); a bulk import asks for it as it goes, since the plans of its own reads
        depend on it. With no statistics, at a tenth of the country, the planner took every
        stream for 100,000 events long and read a member's two events in parallel workers.
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
            # The writers' lock keeps every other writer off the sequence until this commits, so the
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
