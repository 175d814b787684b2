"""Reading recorded events back by position, and showing them as plain JSON.

Audit trails and member timelines keep only an index (position, organization, member); the
events themselves are read from the event store, so what an auditor sees is what was recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from projections.projector import to_json

PERSONAL_FIELDS = frozenset({"national_id", "birth_date", "ethnicity", "religion"})
ENVELOPE_FIELDS = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "effective_on", "recorded_by"}
)


def notification_of(row: Any) -> Notification:
    """A notification from a row of PostgreSQL's events table (as the library's pool returns it)."""
    return Notification(
        id=row["notification_id"],
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


def without_personal_data(value: Any) -> Any:
    """The same JSON value with national ID, birth date, ethnicity and religion removed everywhere."""
    if isinstance(value, dict):
        return {k: without_personal_data(v) for k, v in value.items() if k not in PERSONAL_FIELDS}
    if isinstance(value, list):
        return [without_personal_data(v) for v in value]
    return value


def event_data(event: Any, personal: bool) -> dict[str, Any]:
    """An event's own fields (its decision included) as JSON, personal data only if allowed."""
    data = {k: to_json(v) for k, v in vars(event).items() if k not in ENVELOPE_FIELDS}
    return data if personal else without_personal_data(data)


def recorded_at(event: Any) -> str:
    """When the event was recorded, RFC 3339 in UTC."""
    stamp: datetime = event.timestamp
    return stamp.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class EventReader:
    """Fetches notifications from the ledger's events table by their positions."""

    def __init__(self, recorder: Any, mapper: Any) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.postgres = type(recorder.datastore).__name__.startswith("Postgres")

    def at(self, positions: Sequence[int]) -> list[tuple[int, Any]]:
        """The decoded events at these positions, in position order."""
        if not positions:
            return []
        recorder: Any = self.recorder
        table = recorder.events_table_name
        notifications: list[Notification] = []
        if self.postgres:
            schema = recorder.datastore.schema
            with recorder.datastore.transaction(commit=False) as curs:
                curs.execute(
                    f'SELECT notification_id, originator_id, originator_version, topic, state '
                    f'FROM "{schema}"."{table}" WHERE notification_id = ANY(%s) ORDER BY notification_id',
                    (list(positions),),
                )
                notifications += [notification_of(row) for row in curs.fetchall()]
        else:
            with recorder.datastore.transaction(commit=False) as curs:
                for i in range(0, len(positions), 500):
                    chunk = list(positions[i : i + 500])
                    curs.execute(
                        f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                        f"WHERE rowid IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
                        chunk,
                    )
                    for row in curs.fetchall():
                        notifications.append(
                            Notification(
                                id=row[0],
                                originator_id=recorder.convert_originator_id(row[1]),
                                originator_version=row[2],
                                topic=row[3],
                                state=row[4],
                            )
                        )
        notifications.sort(key=lambda n: n.id)
        return [(n.id, self.mapper.to_domain_event(n)) for n in notifications]

    def stream(self, stream_id: str, through: int, size: int = 1000) -> Iterator[list[tuple[int, int, str, bytes]]]:
        """The stored events of one stream up to a position, in version order, a page at a time:
        (position, version, topic, state), the state as the bytes stored."""
        recorder: Any = self.recorder
        table = recorder.events_table_name
        version = 0
        while True:
            with recorder.datastore.transaction(commit=False) as curs:
                if self.postgres:
                    curs.execute(
                        f"SELECT notification_id, originator_version, topic, state "
                        f'FROM "{recorder.datastore.schema}"."{table}" WHERE originator_id = %s '
                        "AND originator_version > %s AND notification_id <= %s ORDER BY originator_version LIMIT %s",
                        (UUID(hex=stream_id), version, through, size),
                    )
                    rows = [
                        (r["notification_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                        for r in curs.fetchall()
                    ]
                else:
                    curs.execute(
                        f"SELECT rowid, originator_version, topic, state FROM {table} WHERE originator_id = ? "
                        "AND originator_version > ? AND rowid <= ? ORDER BY originator_version LIMIT ?",
                        (stream_id, version, through, size),
                    )
                    # A state rewritten as text is not what was recorded: hashed as its text, it
                    # changes the digest, and it is checked like any other.
                    rows = [(r[0], r[1], r[2], _as_bytes(r[3])) for r in curs.fetchall()]
            if not rows:
                return
            yield rows
            version = rows[-1][1]

    def unreadable(self, stream_id: str) -> Callable[[int, int, str, bytes], str | None]:
        """Why a stored event of this stream does not decode back into a domain event (None if it does)."""
        originator_id = UUID(hex=stream_id)

        def check(position: int, version: int, topic: str, state: bytes) -> str | None:
            stored = Notification(
                id=position, originator_id=originator_id, originator_version=version, topic=topic, state=state
            )
            try:
                self.mapper.to_domain_event(stored)
            except Exception as error:  # noqa: BLE001 - whatever the damage, the event does not read back
                return type(error).__name__
            return None

        return check


def _as_bytes(state: Any) -> bytes:
    """A stored state as bytes, whatever type the column gives back."""
    return state.encode() if isinstance(state, str) else bytes(state)
