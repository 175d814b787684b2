"""The read side: queries over the read models, and the runner that keeps them current."""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from domain.collector import CollectorPacing
from domain.ledger import Ledger
from projections import reports, verification
from projections.db import Cursor, Database
from projections.events import EventReader, event_data, recorded_at, without_personal_data
from projections.projector import APPLICATION, Projector
from projections.tree import day_before

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
IDLE_POLL_SECONDS = 0.05
# Members of a roster read, and sent, at a time.
ROSTER_PIECE = 1000


def open_database(ledger: Ledger) -> Database:
    """The read models' database: the ledger's own, through the library's tracking recorder."""
    return Database(ledger.factory.tracking_recorder())


class Runner:
    """Follows the ledger's notification log in a background thread, applying each batch once.

    On PostgreSQL it listens on the events table's NOTIFY channel, so a new event is applied at
    once; on SQLite, which cannot notify, it polls.
    """

    def __init__(self, projector: Projector, on_progress: Callable[[int], None]) -> None:
        self.projector = projector
        self.on_progress = on_progress
        self.stopping = threading.Event()
        self.wakeup = threading.Event()
        self.threads: list[threading.Thread] = []
        self.failures = 0
        recorder: Any = projector.ledger.recorder
        self.channel: str | None = getattr(recorder, "channel_name", None)
        self.idle_seconds = 1.0 if self.channel else IDLE_POLL_SECONDS

    def start(self) -> None:
        targets = [self.run] + ([self.listen] if self.channel else [])
        for target in targets:
            thread = threading.Thread(target=target, name=f"projection-{target.__name__}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def listen(self) -> None:
        """Wake the runner whenever the ledger notifies a new event (PostgreSQL)."""
        datastore: Any = self.projector.ledger.recorder.datastore  # type: ignore[attr-defined]
        while not self.stopping.is_set():
            try:
                with datastore.get_connection() as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wakeup.set()
            except Exception:
                log.exception("listening for new events failed; listening again")
                self.wakeup.set()
                self.stopping.wait(1.0)

    def run(self) -> None:
        """Apply new notifications until stopped; survive database errors by starting again."""
        recorder = self.projector.ledger.recorder
        while not self.stopping.is_set():
            try:
                position = self.projector.position()
                notifications = recorder.select_notifications(
                    start=position, limit=BATCH_SIZE, inclusive_of_start=False
                )
                if notifications:
                    self.on_progress(self.projector.process(notifications))
                    self.failures = 0
                else:
                    self.wakeup.wait(self.idle_seconds)
                    self.wakeup.clear()
            except Exception:
                self.failures += 1
                log.exception("projection batch failed; retrying")
                self.stopping.wait(min(5.0, 0.1 * 2**self.failures))


class ReadModels:
    """Queries for rosters, reports, organizations, members and audit trails."""

    def __init__(
        self,
        database_url: str,
        ledger: Ledger,
        today: Callable[[], date] = date.today,
        replica_env: Mapping[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.ledger = ledger
        self.today = today
        self.db = open_database(ledger)
        self._projector: Projector | None = None
        Projector.create_tables_in(self.db)
        self.events = EventReader(ledger.recorder, ledger.mapper)
        self.runner: Runner | None = None
        self._position = self._stored_position()
        self._advanced = threading.Condition()
        self.replica: ReadModels | None = None
        if replica_env is not None:
            self.replica = self._on_replica(replica_env)

    def _on_replica(self, env: Mapping[str, str]) -> ReadModels:
        """The same queries, answered by a streaming replica of the database (read-only)."""
        factory: Any = InfrastructureFactory.construct(
            Environment(self.ledger.name, {**env, "CREATE_TABLE": "n"})
        )
        replica = copy.copy(self)
        replica.db = Database(factory.tracking_recorder())
        replica.events = EventReader(factory.application_recorder(), self.ledger.mapper)
        replica.replica = None
        replica.runner = None
        replica._projector = None
        replica._advanced = threading.Condition()
        return replica

    def reader(self, min_position: int | None, timeout: float) -> ReadModels | None:
        """Where to answer a query that must see `min_position`: the replica once it has
        replayed that far, else the primary once it has; None if neither does in time."""
        if self.replica is not None:
            if min_position is None or self.replica.position() >= min_position:
                return self.replica
        if min_position is None or self.wait_for(min_position, timeout):
            return self
        return None

    def close(self) -> None:
        """Stop the runner and release the replica's connections."""
        self.stop()
        if self.replica is not None:
            self.replica.db.datastore.close()
            self.replica.events.recorder.datastore.close()

    @property
    def projector(self) -> Projector:
        """The projector, made on first use: it holds the whole tree in memory."""
        if self._projector is None:
            self._projector = Projector(self.ledger, self.db)
        return self._projector

    def _stored_position(self) -> int:
        return self.db.recorder.max_tracking_id(APPLICATION) or 0

    # --- keeping current -------------------------------------------------------------------------

    def start(self) -> None:
        """Run the projection runner in this process."""
        if self.runner is None:
            self.runner = Runner(self.projector, self._advance)
            self.runner.start()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None

    def _advance(self, position: int) -> None:
        with self._advanced:
            self._position = position
            self._advanced.notify_all()

    def position(self) -> int:
        """The last global position applied to the read models."""
        if self.runner is None:
            self._position = self._stored_position()
        return self._position

    def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until the read models have applied `position`; False if they have not in time."""
        deadline = time.monotonic() + timeout
        if self.runner is None:
            while self.position() < position:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
            return True
        with self._advanced:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._advanced.wait(remaining)
        return True

    def catch_up(self, batch_size: int = BATCH_SIZE) -> int:
        """Apply everything recorded so far, in this thread (for tools and tests)."""
        recorder = self.ledger.recorder
        while True:
            notifications = recorder.select_notifications(
                start=self.projector.position(), limit=batch_size, inclusive_of_start=False
            )
            if not notifications:
                return self.position()
            self._advance(self.projector.process(notifications))

    # --- the tree --------------------------------------------------------------------------------

    def _org(self, cur: Cursor, code: str) -> tuple[Any, ...] | None:
        return cur.execute(
            "SELECT org_key, code, kind, founded_on, ended_on, status, successor FROM rm_org WHERE code = ?",
            (code,),
        ).one()

    def organization(self, code: str, as_of: date) -> dict[str, Any] | None:
        """The organization as the tree stood on `as_of`; None if it did not exist yet."""
        day = as_of.isoformat()
        with self.db.transaction(commit=False) as cur:
            org = self._org(cur, code)
            if org is None or day < org[3]:
                return None
            key, code, kind, founded_on, ended_on, status, successor = org
            ended = ended_on is not None and day >= ended_on
            lookup = day_before(ended_on) if ended else day
            name = cur.execute(
                "SELECT name FROM rm_org_name WHERE org_key = ? AND valid_from <= ? ORDER BY valid_from DESC LIMIT 1",
                (key, lookup),
            ).scalar()
            parent = cur.execute(
                "SELECT o.code FROM rm_org_parent p LEFT JOIN rm_org o ON o.org_key = p.parent_key "
                "WHERE p.org_key = ? AND p.valid_from <= ? ORDER BY p.valid_from DESC LIMIT 1",
                (key, lookup),
            ).scalar()
            children = [] if ended else [
                c
                for (c,) in cur.execute(
                    "SELECT o.code FROM rm_org_parent p JOIN rm_org o ON o.org_key = p.org_key "
                    "WHERE p.parent_key = ? AND p.valid_from <= ? AND ? < p.valid_to ORDER BY o.code",
                    (key, day, day),
                ).all()
            ]
        body = {
            "code": code,
            "name": name,
            "kind": kind,
            "parent": parent,
            "status": status if ended else "active",
            "founded_on": founded_on,
            "children": children,
        }
        if ended:
            body["ended_on"] = ended_on
            body["successor"] = successor
        return body

    def is_within(self, code: str, scope: str) -> bool:
        """Whether `code` is `scope` or inside its subtree today (or when it last existed)."""
        if code == scope:
            return True
        today = self.today().isoformat()
        with self.db.transaction(commit=False) as cur:
            scope_row = self._org(cur, scope)
            org_row = self._org(cur, code)
            if scope_row is None or org_row is None:
                return False
            path = cur.execute(
                "SELECT path FROM rm_org_path WHERE org_key = ? AND valid_from <= ? ORDER BY valid_from DESC LIMIT 1",
                (org_row[0], today),
            ).scalar()
        return path is not None and f"/{scope_row[0]}/" in path

    # --- rosters ---------------------------------------------------------------------------------

    def member_cell(self, member_id: UUID) -> str | None:
        """The code of the cell holding the member now (or last)."""
        with self.db.transaction(commit=False) as cur:
            return cur.execute(
                "SELECT o.code FROM rm_member m JOIN rm_org o ON o.org_key = m.cell_key WHERE m.member_id = ?",
                (str(member_id),),
            ).scalar()

    def roster(self, code: str, as_of: date, scope: str, limit: int | None = None, offset: int = 0) -> dict[str, Any]:
        """Who was on the roster of the organization (or of its whole subtree) on `as_of`: every
        member, or the page of `limit` members after the first `offset`, in one answer."""
        pieces = self.roster_pieces(code, as_of, scope, limit, offset)
        whole = next(pieces)
        for members in pieces:
            whole["members"].extend(members)
        return whole

    def roster_pieces(
        self, code: str, as_of: date, scope: str, limit: int | None = None, offset: int = 0
    ) -> Iterator[Any]:
        """The roster in pieces, all read in one transaction: first the answer without its members
        (the counts, the guests, the page asked for), then the members in order, a thousand at a
        time, so that the roster of a whole province, or of the country, never sits in memory whole.

        Raises LookupError for an unknown code when the first piece is asked for.
        """
        day = as_of.isoformat()
        with self.db.transaction(commit=False) as cur:
            org = self._org(cur, code)
            if org is None:
                raise LookupError(code)
            key = org[0]
            if scope == "subtree":
                path = cur.execute(
                    "SELECT path FROM rm_org_path WHERE org_key = ? AND valid_from <= ? AND ? < valid_to",
                    (key, day, day),
                ).scalar()
                if path is None:
                    cells_sql, cells_params = "SELECT CAST(NULL AS INTEGER) WHERE 1 = 0", []
                else:
                    lo, hi = reports.subtree_bounds(path)
                    cells_sql = (
                        "SELECT org_key FROM rm_org_path WHERE path >= ? AND path < ? "
                        "AND valid_from <= ? AND ? < valid_to"
                    )
                    cells_params = [lo, hi, day, day]
            else:
                cells_sql, cells_params = "SELECT CAST(? AS INTEGER)", [key]
            base = (
                f"FROM rm_stay s JOIN rm_org c ON c.org_key = s.cell_key "
                f"LEFT JOIN rm_transit t ON t.member_id = s.member_id AND t.cell_key = s.cell_key "
                f"AND t.valid_from <= ? AND ? < t.valid_to "
                f"WHERE s.cell_key IN ({cells_sql}) AND s.valid_from <= ? AND ? < s.valid_to"
            )
            params = [day, day, *cells_params, day, day]
            total, official, in_transit = cur.execute(
                "SELECT COUNT(*), "
                "COALESCE(SUM(CASE WHEN s.official_since IS NOT NULL AND s.official_since <= ? THEN 1 ELSE 0 END), 0), "
                f"COUNT(t.transfer_id) {base}",
                [day, *params],
            ).one() or (0, 0, 0)
            guests = cur.execute(
                "SELECT g.member_id, g.full_name, h.code, o.code, g.valid_from, g.until "
                "FROM rm_guest g JOIN rm_org h ON h.org_key = g.host_key JOIN rm_org o ON o.org_key = g.home_key "
                f"WHERE g.host_key IN ({cells_sql}) AND g.valid_from <= ? AND ? < g.valid_to "
                "ORDER BY g.full_name",
                [*cells_params, day, day],
            ).all()
            yield {
                "organization": code,
                "as_of": day,
                "scope": scope,
                "total": int(total),
                "probationary": int(total) - int(official),
                "official": int(official),
                "in_transit": int(in_transit),
                "members": [],
                "guests": [
                    {"member_id": m, "full_name": n, "host": h, "home": o, "since": s, "until": u}
                    for m, n, h, o, s, u in guests
                ],
                "limit": limit,
                "offset": offset,
            }
            for rows in cur.stream(
                "SELECT s.member_id, s.full_name, s.official_since, s.admitted_on, c.code, t.transfer_id "
                f"{base} ORDER BY s.full_name, s.member_id LIMIT ? OFFSET ?",
                [*params, limit if limit is not None else self.db.no_limit, offset],
                ROSTER_PIECE,
            ):
                yield [roster_entry(day, *row) for row in rows]

    # --- reports ---------------------------------------------------------------------------------

    def report(self, code: str, start: date, end: date, restate: bool = False) -> dict[str, Any]:
        """Form 1 and Form 2 figures for the organization's subtree and each direct child."""
        with self.db.transaction(commit=False) as cur:
            org = self._org(cur, code)
            if org is None:
                raise LookupError(code)
            if restate:
                body = reports.restated_report(cur, org[0], code, start, end, self.today())
            else:
                body = reports.report(cur, org[0], code, start, end)
        body["restated"] = restate
        return body

    # --- members and audit -----------------------------------------------------------------------

    def _timeline(self, positions: list[int], personal: bool) -> list[dict[str, Any]]:
        events = self.events.at(positions)
        streams = sorted({event.originator_id.hex for _, event in events})
        with self.db.transaction(commit=False) as cur:
            codes = dict(cur.execute(
                f"SELECT stream_id, code FROM rm_org WHERE stream_id IN ({self.db.in_list(streams)})", streams
            ).all())
        timeline = []
        for position, event in events:
            timeline.append(
                {
                    "position": position,
                    "type": type(event).__name__,
                    "organization": codes.get(event.originator_id.hex),
                    "effective_on": event.effective_on.isoformat(),
                    "recorded_at": recorded_at(event),
                    "recorded_by": event.recorded_by,
                    "data": event_data(event, personal),
                }
            )
        return timeline

    def member(self, member_id: UUID, personal: bool = True) -> dict[str, Any] | None:
        """A member's current state and every event about them, across organizations."""
        key = str(member_id)
        with self.db.transaction(commit=False) as cur:
            row = cur.execute(
                "SELECT m.member_id, m.person, m.full_name, o.code, m.joined_on, m.admitted_on, "
                "m.probation_ends_on, m.official_since, m.removed_on, m.removal_reason, m.transfer, m.membership "
                "FROM rm_member m JOIN rm_org o ON o.org_key = m.cell_key WHERE m.member_id = ?",
                (key,),
            ).one()
            if row is None:
                return None
            positions = [p for (p,) in cur.execute(
                "SELECT position FROM rm_event_member WHERE member_id = ? ORDER BY position", (key,)
            ).all()]
        (member_id_, person, full_name, cell, joined_on, admitted_on, probation_ends_on, official_since,
         removed_on, removal_reason, transfer, membership) = row
        transfer_json = json.loads(transfer) if transfer else None
        status = member_status(removed_on, transfer_json, official_since)
        person_json = json.loads(person)
        return {
            "member_id": member_id_,
            "full_name": full_name,
            "person": person_json if personal else without_personal_data(person_json),
            "status": status,
            "cell": cell,
            "joined_on": joined_on,
            "admitted_on": admitted_on,
            "probation_ends_on": probation_ends_on,
            "official_since": official_since,
            "removed_on": removed_on,
            "removal_reason": removal_reason,
            "transfer": transfer_json,
            "admissions": membership,
            "timeline": self._timeline(positions, personal),
        }

    def find_members(self, national_id: str) -> list[dict[str, Any]]:
        """Members registered with this national ID (at most one person)."""
        with self.db.transaction(commit=False) as cur:
            rows = cur.execute(
                "SELECT m.member_id, m.full_name, o.code, m.removed_on, m.transfer, m.official_since FROM rm_member m "
                "JOIN rm_org o ON o.org_key = m.cell_key WHERE m.national_id = ?",
                (national_id,),
            ).all()
        return [
            {"member_id": m, "full_name": n, "cell": c, "status": member_status(r, json.loads(t) if t else None, o)}
            for m, n, c, r, t, o in rows
        ]

    def verification(
        self, code: str, scope: str, through: int, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Digests of the streams of the organization, or of every organization in its subtree
        (today's, and the ended ones whose last place was in it), through a position: see
        `projections.verification`. `progress(streams done, streams)` after each stream."""
        with self.db.transaction(commit=False) as cur:
            org = self._org(cur, code)
            if org is None:
                raise LookupError(code)
            units = [(code, org_stream(cur, org[0]))]
            if scope == "subtree":
                units = self._subtree_streams(cur, org[0])
        streams = []
        for unit, stream_id in units:
            rows = (row for page in self.events.stream(stream_id, through) for row in page)
            streams.append(verification.digest_stream(unit, rows, self.events.unreadable(stream_id)))
            if progress is not None:
                progress(len(streams), len(units))
        return {
            "organization": code,
            "scope": scope,
            "through": through,
            "intact": all(not s.problems for s in streams),
            "events": sum(s.events for s in streams),
            "digest": verification.combined(streams),
            "organizations": [s.as_json() for s in sorted(streams, key=lambda s: s.organization)],
        }

    def _subtree_streams(self, cur: Cursor, key: int) -> list[tuple[str, str]]:
        """(code, stream id) of every organization whose latest place in the tree is under `key`."""
        latest = (
            "SELECT p.org_key, p.path FROM rm_org_path p WHERE p.valid_from = "
            "(SELECT MAX(q.valid_from) FROM rm_org_path q WHERE q.org_key = p.org_key)"
        )
        own = cur.execute(f"{latest} AND p.org_key = ?", (key,)).one()
        if own is None:
            return []
        lo, hi = reports.subtree_bounds(own[1])
        return [
            (unit, stream_id)
            for unit, stream_id in cur.execute(
                f"SELECT o.code, o.stream_id FROM ({latest} AND p.path >= ? AND p.path < ?) l "
                "JOIN rm_org o ON o.org_key = l.org_key ORDER BY o.code",
                (lo, hi),
            ).all()
        ]

    def organization_events(self, code: str, after: int, limit: int, personal: bool = True) -> list[dict[str, Any]]:
        """The events recorded on an organization's stream after a position, oldest first."""
        with self.db.transaction(commit=False) as cur:
            org = self._org(cur, code)
            if org is None:
                raise LookupError(code)
            positions = [p for (p,) in cur.execute(
                "SELECT position FROM rm_event WHERE org_key = ? AND position > ? ORDER BY position LIMIT ?",
                (org[0], after, limit),
            ).all()]
        return [
            {k: v for k, v in entry.items() if k != "organization"}
            for entry in self._timeline(positions, personal)
        ]


def org_stream(cur: Cursor, key: int) -> str:
    """The id (hex) of an organization's stream of events."""
    return str(cur.execute("SELECT stream_id FROM rm_org WHERE org_key = ?", (key,)).scalar())


def roster_entry(
    day: str, member_id: str, full_name: str, official_since: str | None, admitted_on: str, cell: str, transfer: Any
) -> dict[str, Any]:
    """One member of a roster as of `day`."""
    is_official = official_since is not None and official_since <= day
    return {
        "member_id": member_id,
        "full_name": full_name,
        "status": "in_transit" if transfer else ("official" if is_official else "probationary"),
        "cell": cell,
        "admitted_on": admitted_on,
        "official_since": official_since if is_official else None,
    }


def member_status(removed_on: str | None, transfer: dict[str, Any] | None, official_since: str | None) -> str:
    """A member's status today: removed, in transit (an official transfer not yet received),
    official or probationary."""
    if removed_on:
        return "removed"
    if transfer and transfer["kind"] == "official":
        return "in_transit"
    return "official" if official_since else "probationary"


def rebuild(
    ledger: Ledger,
    progress: Callable[[int, int], None] | None = None,
    finishing: Callable[[], None] | None = None,
) -> tuple[int, float]:
    """Empty the read models and apply every event again; return (events, seconds).

    `progress(done, total)` is called after each batch, `finishing()` once every event is applied,
    before the tables are vacuumed and analyzed (minutes at a national scale)."""
    db = open_database(ledger)
    projector = Projector(ledger, db)
    projector.rebuild_tables()
    head = ledger.recorder.max_notification_id() or 0
    started = time.perf_counter()
    done = 0
    position = 0
    # Reading the log a section ahead in another thread was tried: the two threads contend for
    # the interpreter, and the database round trips of this one wait for it (slower by a tenth).
    with CollectorPacing() as pacing:
        while True:
            notifications = ledger.recorder.select_notifications(
                start=position, limit=5 * BATCH_SIZE, inclusive_of_start=False
            )
            if not notifications:
                break
            position = projector.process(notifications)
            done += len(notifications)
            pacing.batch_done()
            if progress is not None:
                progress(done, head)
    if finishing is not None:
        finishing()
    projector.vacuum_analyze()
    return done, time.perf_counter() - started


__all__ = ["APPLICATION", "ReadModels", "rebuild"]
