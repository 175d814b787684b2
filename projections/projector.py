"""The projector: applies the ledger's events to the read models, a batch at a time.

A batch of notifications is applied in one transaction together with the library's tracking
record, so each event is applied exactly once however often the projector is stopped and started.

Reports are kept as facts (an admission at a cell on a day, a transfer between two cells, a move
of an organization in the tree) and as their attribution to every ancestor of the cells involved,
as the tree stood on the fact's day, in day and month buckets. When a change to the tree arrives
that takes effect before facts already recorded under the moved organization, those facts are
attributed again, so the figures never depend on the order in which things were recorded.
"""

from __future__ import annotations

import bisect
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, Tracking
from eventsourcing.utils import resolve_topic

from domain.ledger import Ledger
from domain.organization import Organization
from domain.values import (
    MemberFile,
    PersonProfile,
    RemovalReason,
    TransferKind,
    age_in_years,
)
from projections import reports, schema
from projections.db import OPEN_END, Cursor, Database
from projections.tree import Tree, day_before

APPLICATION = Ledger.name
# Closed transfers remembered for the withdrawal that follows each in the log.
ENDED_TRANSFERS_KEPT = 10_000

log = logging.getLogger(__name__)

ORGANIZATION_MEASURE = schema.ORGANIZATION_MEASURE
ZEROS = (0,) * len(schema.MEASURES)
TRANSFERRED_IN = (schema.MEASURE_INDEX["transferred_in"],)
TRANSFERRED_OUT = (schema.MEASURE_INDEX["transferred_out"],)


def age_band(age: int) -> str:
    """Form 2's age bands: 18-30, then five-year bands to 60, then over 60."""
    if age <= 30:
        return "18-30"
    if age > 60:
        return "over_60"
    low = 31 + (age - 31) // 5 * 5
    return f"{low}-{low + 4}"


def admission_measures(person: PersonProfile, admitted_on: date) -> list[str]:
    """The Form 2 categories a new member counts in."""
    measures = ["admitted", f"age_{age_band(age_in_years(person.birth_date, admitted_on))}"]
    if person.sex.value == "female":
        measures.append("new_women")
    if person.is_ethnic_minority:
        measures.append("new_ethnic_minority")
    if person.is_religious:
        measures.append("new_religious")
    if person.youth_union_member:
        measures.append("new_youth_union")
    measures.append(f"education_{person.education.value if person.education else 'unknown'}")
    measures.append(
        f"professional_{person.professional_level.value if person.professional_level else 'unknown'}"
    )
    measures.append(f"theory_{person.political_theory.value if person.political_theory else 'unknown'}")
    measures.append(f"occupation_{person.occupation.value if person.occupation else 'unknown'}")
    return measures


def to_json(value: Any) -> Any:
    """Plain JSON values from the ledger's values: dates, UUIDs, enums and dataclasses."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (date, UUID)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: to_json(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def member_ids(events: Iterable[Any]) -> list[str]:
    """The members the events are about, but for those the read models cannot know yet: a first
    admission makes a new member (a readmission keeps the member id, and counts more than one)."""
    found = []
    for event in events:
        if isinstance(event, Organization.MemberAdmitted) and event.admissions == 1:
            continue
        member_id = getattr(event, "member_id", None)
        if member_id is not None:
            found.append(str(member_id))
        elif (file := getattr(event, "file", None)) is not None:
            found.append(str(file.member_id))
        for file in getattr(event, "members", ()) if isinstance(event, Organization.Absorbed) else ():
            found.append(str(file.member_id))
    return found


def subject(event: Any) -> str | None:
    """The member an event is about, where there is exactly one (the member itself, or the member
    whose file, guest stay or announced transfer it carries)."""
    for holder in (event, getattr(event, "file", None), getattr(event, "guest", None), getattr(event, "transfer", None)):
        member_id = getattr(holder, "member_id", None)
        if member_id is not None:
            return str(member_id)
    return None


def members_concerned(event: Any) -> list[str]:
    """Every member an event is about, for their timelines: its subject, or the whole roster that a
    merger or a split sent away and that a successor absorbed (members, guests, announced transfers)."""
    one = subject(event)
    if one is not None:
        return [one]
    if isinstance(event, Organization.Absorbed):
        return list(dict.fromkeys(
            [str(f.member_id) for f in event.members]
            + [str(g.member_id) for g in event.guests]
            + [str(t.member_id) for t in event.incoming]
        ))
    if isinstance(event, Organization.MergedInto):
        return [str(m) for m in event.members]
    if isinstance(event, Organization.SplitUp):
        return [str(m) for part in event.parts.values() for m in part.get("members", ())]
    return []


@dataclass
class Fact:
    """Something that changes the figures of every organization above where it happened."""

    fact_id: int
    position: int
    day: str
    kind: str  # "at" (counted at node), "transfer" (src -> dst), "move" (node from src to dst)
    node: int | None
    src: int | None
    dst: int | None
    k: int
    measures: tuple[str, ...] = ()

    def row(self) -> tuple[Any, ...]:
        return (
            self.fact_id,
            self.position,
            self.day,
            self.kind,
            self.node,
            self.src,
            self.dst,
            self.k,
            ",".join(self.measures),
        )


@dataclass
class MemberState:
    """A member's row, stays, and transits as the batch changes them."""

    row: dict[str, Any]
    stays: list[dict[str, Any]] = field(default_factory=list)
    transits: list[dict[str, Any]] = field(default_factory=list)
    new: bool = False


MEMBER_COLUMNS = (
    "member_id",
    "national_id",
    "person",
    "full_name",
    "cell_key",
    "membership",
    "joined_on",
    "admitted_on",
    "probation_ends_on",
    "official_since",
    "removed_on",
    "removal_reason",
    "transfer",
)
STAY_COLUMNS = (
    "member_id",
    "seq",
    "cell_key",
    "valid_from",
    "valid_to",
    "membership",
    "full_name",
    "admitted_on",
    "official_since",
)
TRANSIT_COLUMNS = ("member_id", "transfer_id", "cell_key", "valid_from", "valid_to")
GUEST_COLUMNS = (
    "transfer_id",
    "member_id",
    "host_key",
    "home_key",
    "full_name",
    "valid_from",
    "valid_to",
    "until",
)


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


FLOW_UPSERT = (
    f"INSERT INTO rm_flow (org_key, grain, bucket, {', '.join(schema.MEASURE_COLUMNS)}) "
    f"VALUES (?, ?, ?, {', '.join('?' * len(schema.MEASURES))}) "
    "ON CONFLICT (org_key, grain, bucket) DO UPDATE SET "
    + ", ".join(f"{c} = rm_flow.{c} + excluded.{c}" for c in schema.MEASURE_COLUMNS)
)


class MoveIndex:
    """Every move of an organization in the tree, by organization and day.

    A move carries its subtree's headcount and organizations as they were the day before, out of
    the old ancestors and into the new. A fact recorded later but effective before the move, under
    the moved organization, changes what the move carried: the index finds such moves.
    """

    def __init__(self) -> None:
        self.facts: dict[int, tuple[int, str]] = {}
        self.by_node_day: dict[tuple[int, str], list[int]] = {}
        self.days: list[str] = []  # distinct days of moves, in order
        self.eves: dict[str, str] = {}  # each such day's day before

    def add(self, fact_id: int, node: int, day: str) -> None:
        self.facts[fact_id] = (node, day)
        self.by_node_day.setdefault((node, day), []).append(fact_id)
        if day not in self.eves:
            bisect.insort(self.days, day)
            self.eves[day] = day_before(day)

    def above(self, tree: Tree, node: int, since: str) -> list[int]:
        """Moves on a day after `since` of the organization or of one above it the day before."""
        found: list[int] = []
        for day in self.days[bisect.bisect_right(self.days, since):]:
            for org in tree.path_at(node, self.eves[day]):
                found += self.by_node_day.get((org, day), ())
        return found


CARRIED_COLUMNS = ("fact_id", "headcount", *schema.ORGANIZATION_COUNTS)


class Batch:
    """The changes one batch of events makes, written in one go at the end."""

    def __init__(self, projector: Projector, cur: Cursor) -> None:
        self.projector = projector
        self.tree = projector.tree
        self.cur = cur
        self.members: dict[str, MemberState] = {}
        self.guests: dict[tuple[str, int], dict[str, Any]] = {}
        self.flows: dict[tuple[int, str, str], list[int]] = {}
        self.facts: list[Fact] = []
        self.sides: dict[int, list[tuple[int, int, str, int, int]]] = {}
        self.cleared_sides: set[int] = set()
        self.events: list[tuple[Any, ...]] = []
        # (member, position) for each member an event is about: a merger's is about a whole roster.
        self.event_members: list[tuple[str, int]] = []
        self.paths_dirty: set[int] = set()
        # Moves whose carried figures this batch may change, to compute again once it is written.
        self.moves = projector.moves
        self.moves_dirty: set[int] = set()

    # --- members ---------------------------------------------------------------------------------

    def member(self, member_id: UUID | str) -> MemberState:
        key = str(member_id)
        state = self.members.get(key)
        if state is None:
            self.preload([key])
            state = self.members[key]
        return state

    def new_member(self, member_id: UUID) -> MemberState:
        """The state of a member admitted for the first time, who has no rows yet."""
        state = self.members[str(member_id)] = MemberState(row={}, new=True)
        return state

    def preload(self, member_ids: Iterable[str]) -> None:
        """Read the rows of these members in a few queries (most events of a batch need them)."""
        wanted = sorted({m for m in member_ids if m not in self.members})
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            states = {m: MemberState(row={}, new=True) for m in chunk}
            for row in self.cur.execute(
                f"SELECT {', '.join(MEMBER_COLUMNS)} FROM rm_member WHERE member_id IN ({marks})", chunk
            ).all():
                states[row[0]] = MemberState(row=dict(zip(MEMBER_COLUMNS, row)))
            for row in self.cur.execute(
                f"SELECT {', '.join(STAY_COLUMNS)} FROM rm_stay WHERE member_id IN ({marks}) ORDER BY member_id, seq",
                chunk,
            ).all():
                states[row[0]].stays.append(dict(zip(STAY_COLUMNS, row)))
            for row in self.cur.execute(
                f"SELECT {', '.join(TRANSIT_COLUMNS)} FROM rm_transit WHERE member_id IN ({marks})", chunk
            ).all():
                states[row[0]].transits.append(dict(zip(TRANSIT_COLUMNS, row)))
            self.members.update(states)

    def open_stay(self, state: MemberState, cell: int, day: str) -> None:
        row = state.row
        state.stays.append(
            {
                "member_id": row["member_id"],
                "seq": len(state.stays) + 1,
                "cell_key": cell,
                "valid_from": day,
                "valid_to": OPEN_END,
                "membership": row["membership"],
                "full_name": row["full_name"],
                "admitted_on": row["admitted_on"],
                "official_since": row["official_since"],
            }
        )
        row["cell_key"] = cell

    @staticmethod
    def close_stay(state: MemberState, day: str) -> int | None:
        for stay in state.stays:
            if stay["valid_to"] == OPEN_END:
                stay["valid_to"] = day
                return stay["cell_key"]
        return None

    @staticmethod
    def close_transits(state: MemberState, day: str, transfer_id: str | None = None) -> None:
        for transit in state.transits:
            if transit["valid_to"] == OPEN_END and transfer_id in (None, transit["transfer_id"]):
                transit["valid_to"] = day

    # --- facts and their attribution ---------------------------------------------------------------

    def add_flow(self, org: int, day: str, indices: Sequence[int], k: int) -> None:
        """Add `k` to the measures at `indices` of the organization's day, month (and year) buckets."""
        flows = self.flows
        keys = [(org, "d", day), (org, "m", day[:7])]
        if self.tree.nodes[org].kind in schema.YEARLY_KINDS:
            keys.append((org, "y", day[:4]))
        for key in keys:
            row = flows.get(key)
            if row is None:
                # The row as written: the key, then the measures.
                row = flows[key] = [*key, *ZEROS]
            for i in indices:
                row[i + 3] += k

    def attribute(self, fact: Fact, sign: int) -> None:
        """Add (sign 1) or take back (sign -1) a fact's figures at every organization it concerns."""
        tree = self.tree
        if self.moves.days and fact.day < self.moves.days[-1]:
            for node in {fact.node, fact.src, fact.dst} - {None}:
                self.moves_dirty.update(self.moves.above(tree, node, fact.day))
        if fact.kind == "at":
            assert fact.node is not None
            indices = [schema.MEASURE_INDEX[m] for m in fact.measures]
            for org in tree.path_at(fact.node, fact.day):
                self.add_flow(org, fact.day, indices, sign * fact.k)
        elif fact.kind == "transfer":
            assert fact.src is not None and fact.dst is not None
            source = tree.path_at(fact.src, fact.day)
            destination = tree.path_at(fact.dst, fact.day)
            for org in set(source) - set(destination):
                self.add_flow(org, fact.day, TRANSFERRED_OUT, sign * fact.k)
            for org in set(destination) - set(source):
                self.add_flow(org, fact.day, TRANSFERRED_IN, sign * fact.k)
        elif sign < 0:
            self.sides.pop(fact.fact_id, None)
            self.cleared_sides.add(fact.fact_id)
        else:
            assert fact.node is not None and fact.dst is not None
            old = set(tree.path_at(fact.src, fact.day)) if fact.src is not None else set()
            new = set(tree.path_at(fact.dst, fact.day))
            self.sides[fact.fact_id] = [(org, fact.fact_id, fact.day, fact.node, -1) for org in old - new] + [
                (org, fact.fact_id, fact.day, fact.node, 1) for org in new - old
            ]

    def record(self, position: int, day: str, kind: str, node: int | None = None, src: int | None = None,
               dst: int | None = None, k: int = 1, measures: Sequence[str] = ()) -> None:
        fact = Fact(self.projector.next_fact_id(), position, day, kind, node, src, dst, k, tuple(measures))
        self.facts.append(fact)
        if kind == "move":
            assert node is not None
            self.moves.add(fact.fact_id, node, day)
            self.moves_dirty.add(fact.fact_id)
        self.attribute(fact, 1)

    def facts_touching(self, keys: set[int], since: str) -> list[Fact]:
        """Facts on or after `since` at, from or to any of these organizations (stored or pending)."""
        found: dict[int, Fact] = {}
        ordered = sorted(keys)
        for i in range(0, len(ordered), 300):
            chunk = ordered[i : i + 300]
            marks = ",".join("?" * len(chunk))
            rows = self.cur.execute(
                "SELECT fact_id, position, day, kind, node_key, src_key, dst_key, k, measures FROM rm_fact "
                f"WHERE day >= ? AND (node_key IN ({marks}) OR src_key IN ({marks}) OR dst_key IN ({marks}))",
                [since, *chunk, *chunk, *chunk],
            ).all()
            for row in rows:
                fact = Fact(*row[:8], measures=tuple(m for m in row[8].split(",") if m))
                found[fact.fact_id] = fact
        for fact in self.facts:
            if fact.day >= since and keys & {fact.node, fact.src, fact.dst}:
                found[fact.fact_id] = fact
        return sorted(found.values(), key=lambda f: f.fact_id)

    def reshape(self, moved: int, since: str, change: Any) -> None:
        """Change the tree from `since`, attributing again every later fact under `moved`."""
        keys = self.tree.subtree_ever(moved, since)
        affected = self.facts_touching(keys, since)
        # Later moves of the organizations above, before and after the change, carried a subtree
        # that gains or loses this one.
        self.moves_dirty.update(self.moves.above(self.tree, moved, since))
        for fact in affected:
            self.attribute(fact, -1)
        change()
        for fact in affected:
            self.attribute(fact, 1)
        self.moves_dirty.update(self.moves.above(self.tree, moved, since))
        self.paths_dirty |= keys

    # --- writing -----------------------------------------------------------------------------------

    def flush(self, tracking: Tracking) -> None:
        cur = self.cur
        members = [s for s in self.members.values() if s.row]
        cur.executemany(
            _upsert("rm_member", MEMBER_COLUMNS, ("member_id",)),
            [[s.row[c] for c in MEMBER_COLUMNS] for s in members],
        )
        cur.executemany(
            _upsert("rm_stay", STAY_COLUMNS, ("member_id", "seq")),
            [[stay[c] for c in STAY_COLUMNS] for s in members for stay in s.stays],
        )
        cur.executemany(
            _upsert("rm_transit", TRANSIT_COLUMNS, ("transfer_id", "cell_key")),
            [[t[c] for c in TRANSIT_COLUMNS] for s in members for t in s.transits],
        )
        cur.executemany(
            _upsert("rm_guest", GUEST_COLUMNS, ("transfer_id", "host_key")),
            [[g[c] for c in GUEST_COLUMNS] for g in self.guests.values()],
        )
        cur.executemany(
            "INSERT INTO rm_fact (fact_id, position, day, kind, node_key, src_key, dst_key, k, measures) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f.row() for f in self.facts],
        )
        cleared = sorted(self.cleared_sides)
        for i in range(0, len(cleared), 500):
            chunk = cleared[i : i + 500]
            cur.execute(f"DELETE FROM rm_move_side WHERE fact_id IN ({','.join('?' * len(chunk))})", chunk)
        cur.executemany(
            "INSERT INTO rm_move_side (org_key, fact_id, day, node_key, sign) VALUES (?, ?, ?, ?, ?)",
            [side for sides in self.sides.values() for side in sides],
        )
        cur.executemany(FLOW_UPSERT, [row for row in self.flows.values() if any(row[3:])])
        cur.executemany(
            "INSERT INTO rm_event (position, org_key, type, effective_on) VALUES (?, ?, ?, ?)",
            self.events,
        )
        cur.executemany("INSERT INTO rm_event_member (member_id, position) VALUES (?, ?)", self.event_members)
        if self.paths_dirty:
            self.tree.write_paths(cur, self.paths_dirty)
        # Last, so that the counts read every row this batch wrote.
        carried = []
        for fact_id in sorted(self.moves_dirty):
            headcount, organizations = reports.carried(cur, *self.moves.facts[fact_id])
            carried.append((fact_id, headcount, *(organizations[m] for m in schema.ORGANIZATION_COUNTS)))
        cur.executemany(_upsert("rm_carried", CARRIED_COLUMNS, ("fact_id",)), carried)
        self.projector.recorder._insert_tracking(cur.raw, tracking)  # type: ignore[attr-defined]


class Projector:
    """Keeps the read models in step with the ledger's notification log."""

    def __init__(self, ledger: Ledger, db: Database) -> None:
        self.ledger = ledger
        self.db = db
        self.recorder = db.recorder
        self.tree = Tree()
        self.moves = MoveIndex()
        self._fact_id = 0
        # transfer id -> member id of the transfers just closed or ended by a removal: the
        # destination's TransferWithdrawn, which comes next in the log, names only the transfer.
        self.ended_transfers: OrderedDict[str, str] = OrderedDict()
        self._projected_topics: dict[str, bool] = {}
        self.create_tables()
        self.check_version()
        self.reload()

    def create_tables(self) -> None:
        self.create_tables_in(self.db)

    def check_version(self) -> None:
        """Read models kept by another version of the projector are dropped and made again from
        the events: they are disposable, and their shape or meaning may have changed."""
        with self.db.transaction(commit=False) as cur:
            stored = cur.execute("SELECT value FROM rm_meta WHERE name = 'version'").scalar()
        if stored == str(schema.VERSION):
            return
        # Without a version, read models that got anywhere were kept before versions were.
        outdated = stored is not None or self.position() > 0
        if outdated:
            log.warning("read models of version %s are dropped and rebuilt as version %s", stored, schema.VERSION)
        with self.db.transaction() as cur:
            if outdated:
                for table in schema.TABLES:
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in schema.statements(self.db.postgres):
                    cur.execute(statement)
                self.forget_position(cur)
            cur.execute(
                "INSERT INTO rm_meta (name, value) VALUES ('version', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(schema.VERSION),),
            )

    def forget_position(self, cur: Cursor) -> None:
        """Forget how far the read models got: the runner starts again from the first event."""
        table = "tracking" if not self.db.postgres else self.recorder.tracking_table_name  # type: ignore[attr-defined]
        cur.execute(f"DELETE FROM {table} WHERE application_name = ?", (APPLICATION,))

    @staticmethod
    def create_tables_in(db: Database) -> None:
        """Create the read models' tables if they are missing."""
        with db.transaction() as cur:
            for statement in schema.statements(db.postgres):
                cur.execute(statement)

    def reload(self) -> None:
        """Read back the in-memory state (the tree, the fact counter) from the tables."""
        self.tree = Tree()
        self.moves = MoveIndex()
        with self.db.transaction(commit=False) as cur:
            self.tree.load(cur)
            self._fact_id = cur.execute("SELECT MAX(fact_id) FROM rm_fact").scalar() or 0
            for fact_id, node, day in cur.execute(
                "SELECT fact_id, node_key, day FROM rm_fact WHERE kind = 'move' ORDER BY fact_id"
            ).all():
                self.moves.add(fact_id, node, day)

    def position(self) -> int:
        """The last notification applied to the read models."""
        return self.recorder.max_tracking_id(APPLICATION) or 0

    def next_fact_id(self) -> int:
        self._fact_id += 1
        return self._fact_id

    def decode(self, notifications: Sequence[Notification]) -> list[tuple[int, Organization.Event]]:
        """The organizations' events among the notifications, decoded; the registry's are not
        projected, so they are not decoded either."""
        projected = self._projected_topics
        events = []
        for notification in notifications:
            topic = notification.topic
            wanted = projected.get(topic)
            if wanted is None:
                wanted = projected[topic] = issubclass(resolve_topic(topic), Organization.Event)
            if wanted:
                events.append((notification.id, self.ledger.mapper.to_domain_event(notification)))
        return events

    def process(
        self,
        notifications: Sequence[Notification],
        events: list[tuple[int, Organization.Event]] | None = None,
    ) -> int:
        """Apply a batch of notifications in one transaction; return the last position applied.

        `events` are the notifications already decoded (`decode`), when another thread did it.
        """
        if not notifications:
            return self.position()
        try:
            if events is None:
                events = self.decode(notifications)
            with self.db.transaction() as cur:
                batch = Batch(self, cur)
                batch.preload(member_ids(event for _, event in events))
                for position, event in events:
                    self.apply(batch, position, event)
                batch.flush(Tracking(APPLICATION, notifications[-1].id))
        except Exception:
            # What the batch did to the in-memory tree is not committed: read it back.
            self.reload()
            raise
        return notifications[-1].id

    def vacuum_analyze(self) -> None:
        """After a bulk load such as a rebuild: the planner's statistics of every read model (until
        the server's autovacuum gets to it, queries are planned for empty tables), and on
        PostgreSQL a vacuum of each.

        A rebuild writes every page of the read models at once. Left alone, the queries that first
        read a row set its commit hint bits, dirtying its page to be written back again behind
        later requests, and the autovacuum comes to mark the pages visible to all in the middle of
        the traffic. One VACUUM here does both while no one waits, and lets index-only scans skip
        the tables. VACUUM cannot run inside a transaction: the pool's connections autocommit.
        """
        if not self.db.postgres:
            with self.db.transaction() as cur:
                for table in schema.TABLES:
                    cur.execute(f"ANALYZE {table}")
            return
        with self.db.datastore.get_connection() as conn:
            for table in schema.TABLES:
                conn.execute(f"VACUUM (ANALYZE) {table}")

    def rebuild_tables(self) -> None:
        """Empty every read model and forget the tracking position, ready to replay."""
        with self.db.transaction() as cur:
            if self.db.postgres:
                # Emptied at once, files and indexes included: a DELETE leaves every row dead in
                # place until a vacuum, and the rebuild would write into bloated tables and indexes.
                cur.execute(f"TRUNCATE {', '.join(schema.TABLES)}")
            else:
                for table in schema.TABLES:
                    cur.execute(f"DELETE FROM {table}")
            self.forget_position(cur)
        self.reload()

    # --- applying one event -----------------------------------------------------------------------

    def apply(self, batch: Batch, position: int, event: Organization.Event) -> None:
        tree = self.tree
        day = event.effective_on.isoformat()
        name = type(event).__name__
        if isinstance(event, Organization.Founded):
            self._founded(batch, position, event, day)
        org = tree.by_stream[event.originator_id.hex]
        handler = getattr(self, "_" + name, None)
        if handler is not None:
            handler(batch, position, org, day, event)
        batch.events.append((position, org, name, day))
        batch.event_members.extend((member_id, position) for member_id in members_concerned(event))

    # The tree.

    def _founded(self, batch: Batch, position: int, event: Organization.Founded, day: str) -> None:
        tree = self.tree
        key = tree.next_key()
        parent = tree.by_code[event.parent] if event.parent is not None else None
        tree.add(key, event.code, event.originator_id.hex, event.kind.value, day, parent)
        cur = batch.cur
        cur.execute(
            "INSERT INTO rm_org (org_key, code, stream_id, kind, founded_on, status) VALUES (?, ?, ?, ?, ?, 'active')",
            (key, event.code, event.originator_id.hex, event.kind.value, day),
        )
        cur.execute(
            "INSERT INTO rm_org_name (org_key, valid_from, valid_to, name) VALUES (?, ?, ?, ?)",
            (key, day, OPEN_END, event.name),
        )
        tree.write_parents(cur, key)
        batch.paths_dirty.add(key)
        measure = ORGANIZATION_MEASURE.get(event.kind.value)
        if measure:
            batch.record(position, day, "at", node=key, measures=(measure,))

    def _Renamed(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        cur = batch.cur
        cur.execute("DELETE FROM rm_org_name WHERE org_key = ? AND valid_from >= ?", (org, day))
        cur.execute(
            "UPDATE rm_org_name SET valid_to = ? WHERE org_key = ? AND valid_from < ? AND valid_to > ?",
            (day, org, day, day),
        )
        cur.execute(
            "INSERT INTO rm_org_name (org_key, valid_from, valid_to, name) VALUES (?, ?, ?, ?)",
            (org, day, OPEN_END, event.new_name),
        )

    def _Reparented(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        tree = self.tree
        old_parent = tree.parent_at(org, day)
        new_parent = tree.by_code[event.new_parent]
        batch.reshape(org, day, lambda: tree.set_parent(org, new_parent, day))
        tree.write_parents(batch.cur, org)
        batch.record(position, day, "move", node=org, src=old_parent, dst=new_parent)

    def _ended(self, batch: Batch, position: int, org: int, day: str, status: str, successor: str | None) -> None:
        tree = self.tree
        batch.reshape(org, day, lambda: tree.end(org, day))
        tree.write_parents(batch.cur, org)
        batch.cur.execute(
            "UPDATE rm_org SET ended_on = ?, status = ?, successor = ? WHERE org_key = ?",
            (day, status, successor, org),
        )
        batch.cur.execute(
            "UPDATE rm_org_name SET valid_to = ? WHERE org_key = ? AND valid_to > ?", (day, org, day)
        )
        measure = ORGANIZATION_MEASURE.get(tree.nodes[org].kind)
        if measure:
            batch.record(position, day, "at", node=org, k=-1, measures=(measure,))

    def _MergedInto(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        self._ended(batch, position, org, day, "merged", event.into)

    def _SplitUp(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        self._ended(batch, position, org, day, "split", None)

    def _Dissolved(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        self._ended(batch, position, org, day, "dissolved", None)

    def _PlanSet(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        batch.cur.execute(
            "INSERT INTO rm_plan (org_key, period, admissions) VALUES (?, ?, ?) "
            "ON CONFLICT (org_key, period) DO UPDATE SET admissions = excluded.admissions",
            (org, event.period, event.admissions),
        )

    def _Absorbed(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        source = self.tree.by_code[event.source]
        for file in event.members:
            state = batch.member(file.member_id)
            batch.close_stay(state, day)
            batch.open_stay(state, org, day)
            for transit in state.transits:
                if transit["valid_to"] == OPEN_END and transit["cell_key"] == source:
                    transit["valid_to"] = day
                    state.transits.append({**transit, "cell_key": org, "valid_from": day, "valid_to": OPEN_END})
                    break
        for guest in event.guests:
            old = batch.guests.get((str(guest.transfer_id), source)) or self._load_guest(batch, guest.transfer_id, source)
            if old is not None:
                old["valid_to"] = day
                batch.guests[(old["transfer_id"], source)] = old
            self._put_guest(batch, guest, org, day)
        if event.members:
            batch.record(position, day, "transfer", src=source, dst=org, k=len(event.members))

    # Members.

    def _MemberAdmitted(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        state = batch.new_member(event.member_id) if event.admissions == 1 else batch.member(event.member_id)
        person: PersonProfile = event.person
        state.row.update(
            member_id=str(event.member_id),
            national_id=person.national_id,
            person=json.dumps(to_json(person), ensure_ascii=False),
            full_name=person.full_name,
            membership=event.admissions,
            joined_on=event.joined_on.isoformat(),
            admitted_on=day,
            probation_ends_on=event.probation_ends_on.isoformat(),
            official_since=None,
            removed_on=None,
            removal_reason=None,
            transfer=None,
        )
        batch.open_stay(state, org, day)
        batch.record(position, day, "at", node=org, measures=admission_measures(person, event.effective_on))

    def _MembershipConfirmed(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        state = batch.member(event.member_id)
        state.row["official_since"] = day
        for stay in state.stays:
            if stay["membership"] == state.row["membership"]:
                stay["official_since"] = day
        batch.record(position, day, "at", node=org, measures=("confirmed",))

    def _TransferIssued(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        state = batch.member(event.member_id)
        state.row["transfer"] = json.dumps(
            {"transfer_id": str(event.transfer_id), "kind": event.kind.value, "to": event.to,
             "issued_on": day, "until": event.until.isoformat() if event.until else None}
        )
        if event.kind is TransferKind.OFFICIAL:
            state.transits.append(
                {"member_id": str(event.member_id), "transfer_id": str(event.transfer_id), "cell_key": org,
                 "valid_from": day, "valid_to": OPEN_END}
            )

    def _MemberTransferredOut(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        state = batch.member(event.member_id)
        batch.close_stay(state, day)
        batch.close_transits(state, day, str(event.transfer_id))

    def _MemberTransferredIn(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        file: MemberFile = event.file
        state = batch.member(file.member_id)
        state.row["transfer"] = None
        batch.close_stay(state, day)  # normally closed already by the sender's event
        batch.open_stay(state, org, day)
        source = self.tree.by_code[event.source]
        batch.record(position, day, "transfer", src=source, dst=org)

    def _TransferClosed(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        self._transfer_ended(str(event.transfer_id), str(event.member_id))
        state = batch.member(event.member_id)
        state.row["transfer"] = None
        batch.close_transits(state, day, str(event.transfer_id))

    def _load_guest(self, batch: Batch, transfer_id: UUID, host: int) -> dict[str, Any] | None:
        row = batch.cur.execute(
            f"SELECT {', '.join(GUEST_COLUMNS)} FROM rm_guest WHERE transfer_id = ? AND host_key = ?",
            (str(transfer_id), host),
        ).one()
        return dict(zip(GUEST_COLUMNS, row)) if row else None

    def _put_guest(self, batch: Batch, guest: Any, host: int, day: str) -> None:
        batch.guests[(str(guest.transfer_id), host)] = {
            "transfer_id": str(guest.transfer_id),
            "member_id": str(guest.member_id),
            "host_key": host,
            "home_key": self.tree.by_code.get(guest.home, host),
            "full_name": guest.full_name,
            "valid_from": day,
            "valid_to": OPEN_END,
            "until": guest.until.isoformat(),
        }

    def _GuestReceived(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        self._put_guest(batch, event.guest, org, day)

    def _end_guest(self, batch: Batch, transfer_id: UUID, org: int, day: str) -> dict[str, Any] | None:
        guest = batch.guests.get((str(transfer_id), org)) or self._load_guest(batch, transfer_id, org)
        if guest is not None:
            guest["valid_to"] = day
            batch.guests[(str(transfer_id), org)] = guest
        return guest

    def _GuestReturned(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        self._end_guest(batch, event.transfer_id, org, day)

    def _TransferWithdrawn(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        guest = self._end_guest(batch, event.transfer_id, org, day)
        # The event names only the transfer; its member is the one the transfer was issued for:
        # known from the sender's event just before it (a cancellation or a removal), else from
        # the guest's row or the official transfer's.
        transfer_id = str(event.transfer_id)
        member_id = self.ended_transfers.get(transfer_id) or (guest["member_id"] if guest else None)
        if member_id is None:
            member_id = batch.cur.execute(
                "SELECT member_id FROM rm_transit WHERE transfer_id = ? LIMIT 1", (transfer_id,)
            ).scalar()
        if member_id is not None:
            batch.event_members.append((member_id, position))

    def _transfer_ended(self, transfer_id: str, member_id: str) -> None:
        self.ended_transfers[transfer_id] = member_id
        if len(self.ended_transfers) > ENDED_TRANSFERS_KEPT:
            self.ended_transfers.popitem(last=False)

    def _MemberRemoved(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        state = batch.member(event.member_id)
        if state.row.get("transfer"):
            self._transfer_ended(json.loads(state.row["transfer"])["transfer_id"], str(event.member_id))
        batch.close_stay(state, day)
        batch.close_transits(state, day)
        state.row.update(removed_on=day, removal_reason=event.reason.value, transfer=None)
        measures = [event.reason.value]
        if event.reason is RemovalReason.DELISTED and event.was_probationary:
            measures.append("delisted_probationary")
        batch.record(position, day, "at", node=org, measures=measures)

    def _MemberRestored(self, batch: Batch, position: int, org: int, day: str, event: Any) -> None:
        file: MemberFile = event.file
        state = batch.member(file.member_id)
        state.row.update(
            cell_key=org,
            membership=file.admissions,
            removed_on=None,
            removal_reason=None,
            transfer=None,
            official_since=file.official_since.isoformat() if file.official_since else None,
        )
        batch.open_stay(state, org, day)
        batch.record(position, day, "at", node=org, measures=("restored",))
