"""The event feed: the organizations' events as CloudEvents 1.0, in global order, straight from the log.

The feed reads the ledger's notification log itself rather than a read model, so it is never
behind and never has gaps: `next_after` is the last position looked at, and a client that passes
it back sees each later event exactly once. The person registry's streams are bookkeeping for the
one-membership rule and are not part of the feed.

Each event becomes a CloudEvent: `id` its position (as text), `source` its organization
(`/organizations/KT.TP`), `type` a stable name from `CLOUD_EVENT_TYPES`
(`vn.dangvien.<what>.<happened>`, fixed here rather than derived from class names, so renaming a
class never renames what subscribers see), `subject` the member where there is exactly one, `time`
when it was recorded, and `data` the event's fields with `effective_on` and `decision`.

Which subtree an event belongs to is decided by the tree as it stood when the event was recorded:
the feed rebuilds every organization's parents by position from the log's own `Founded` and
`Reparented` events (`Lineage`). Event N therefore reaches the subscribers of the subtrees that
held its organization once events 1..N were recorded, and a later move, merger or split changes
nothing about events already recorded: a subscriber that reads the feed again gets the same events.
After a move, events recorded on the moved organization go to its new subtree; the move itself
(`vn.dangvien.organization.reparented`) is the first event the new subtree sees of it, and the old
parent's `child_detached` tells the old subtree it left.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.errors import InvalidValue
from domain.ledger import Ledger
from domain.organization import Organization
from projections.events import event_data, recorded_at
from projections.projector import subject
from service.recorder import STRUCTURE_TOPICS

SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
TYPE_PREFIX = "vn.dangvien."
SOURCE_PREFIX = "/organizations/"
# Notifications read from the store at once.
BATCH = 500
# How much of the log one request may look through when few events match its filters.
SCAN = 10_000
# Recent events kept decoded in memory, shared by every stream and webhook near the head.
RECENT = 4096

# The CloudEvents `type` of each event class. Append only: a published name never changes.
CLOUD_EVENT_TYPES: dict[str, str] = {
    "Founded": "vn.dangvien.organization.founded",
    "ChildAttached": "vn.dangvien.organization.child_attached",
    "ChildDetached": "vn.dangvien.organization.child_detached",
    "Renamed": "vn.dangvien.organization.renamed",
    "Reparented": "vn.dangvien.organization.reparented",
    "MergedInto": "vn.dangvien.organization.merged",
    "SplitUp": "vn.dangvien.organization.split",
    "Absorbed": "vn.dangvien.organization.absorbed",
    "Dissolved": "vn.dangvien.organization.dissolved",
    "PlanSet": "vn.dangvien.organization.plan_set",
    "MemberAdmitted": "vn.dangvien.member.admitted",
    "MembershipConfirmed": "vn.dangvien.member.confirmed",
    "MemberRemoved": "vn.dangvien.member.removed",
    "MemberRestored": "vn.dangvien.member.restored",
    "MemberTransferredOut": "vn.dangvien.member.transferred_out",
    "MemberTransferredIn": "vn.dangvien.member.transferred_in",
    "TransferIssued": "vn.dangvien.transfer.issued",
    "TransferAnnounced": "vn.dangvien.transfer.announced",
    "TemporaryTransferStarted": "vn.dangvien.transfer.temporary_started",
    "TransferClosed": "vn.dangvien.transfer.closed",
    "TransferWithdrawn": "vn.dangvien.transfer.withdrawn",
    "GuestReceived": "vn.dangvien.guest.received",
    "GuestReturned": "vn.dangvien.guest.returned",
}


def _event_classes() -> dict[str, type[Organization.Event]]:
    found: dict[str, type[Organization.Event]] = {}
    for name, value in vars(Organization).items():
        if (
            isinstance(value, type)
            and issubclass(value, Organization.Event)
            and value not in (Organization.Event, Organization.RosterEvent)
            # The library's default creation event; an organization is created by `Founded`.
            and not (issubclass(value, Aggregate.Created) and value is not Organization.Founded)
        ):
            found[name] = value
    return found


# Event classes by name, and the CloudEvents type of each stored topic.
EVENT_TYPES: dict[str, type[Organization.Event]] = _event_classes()
TOPIC_TYPES: dict[str, str] = {get_topic(cls): CLOUD_EVENT_TYPES[name] for name, cls in EVENT_TYPES.items()}
TYPE_TOPICS: dict[str, str] = {cloud_type: topic for topic, cloud_type in TOPIC_TYPES.items()}
ALL_TOPICS: list[str] = sorted(TOPIC_TYPES)


def resolve_types(names: Iterable[str] | None, field: str = "types") -> frozenset[str] | None:
    """The CloudEvents types asked for (by type or by class name, comma-separated); None for all.

    422 naming `field` for a name the ledger does not record.
    """
    if names is None:
        return None
    asked = [name.strip() for value in names for name in value.split(",") if name.strip()]
    if not asked:
        return None
    known = set(TYPE_TOPICS)
    unknown = sorted({name for name in asked if name not in known and name not in CLOUD_EVENT_TYPES})
    if unknown:
        raise InvalidValue(field, f"unknown event types {unknown}; known: {sorted(known)}")
    return frozenset(CLOUD_EVENT_TYPES.get(name, name) for name in asked)


def cloud_event(position: int, code: str, event: Any) -> dict[str, Any]:
    """One event as a CloudEvent, with personal data (strip it with `service.auth.shown_to`)."""
    body: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(position),
        "source": SOURCE_PREFIX + code,
        "type": CLOUD_EVENT_TYPES[type(event).__name__],
        "time": recorded_at(event),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": {"effective_on": event.effective_on.isoformat(), **event_data(event, personal=True)},
    }
    member = subject(event)
    if member is not None:
        body["subject"] = member
    return body


class Lineage:
    """Every organization's parent over the log's positions, read from `Founded` and `Reparented`.

    Only ever extended at the end of the log, so readers need no lock: what is known about
    positions up to `upto` never changes.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.upto = 0
        self._codes: dict[UUID, str] = {}
        self._since: dict[str, list[int]] = {}
        self._parent: dict[str, list[str | None]] = {}
        self._lock = threading.Lock()

    def advance(self, upto: int) -> None:
        """Read the structure events up to position `upto` (which must be committed)."""
        if upto <= self.upto:
            return
        recorder: Any = self.ledger.recorder
        # The PostgreSQL recorder keeps an index of these events; elsewhere the log is scanned.
        indexed = getattr(recorder, "select_structure_notifications", None)
        with self._lock:
            while self.upto < upto:
                if indexed is not None:
                    batch = indexed(self.upto, upto, BATCH)
                else:
                    batch = recorder.select_notifications(
                        start=self.upto,
                        limit=BATCH,
                        stop=upto,
                        topics=list(STRUCTURE_TOPICS),
                        inclusive_of_start=False,
                    )
                for notification in batch:
                    event: Any = self.ledger.mapper.to_domain_event(notification)
                    if isinstance(event, Organization.Founded):
                        self._codes[notification.originator_id] = event.code
                        self._place(event.code, notification.id, event.parent)
                    else:
                        self._place(self._codes[notification.originator_id], notification.id, event.new_parent)
                self.upto = batch[-1].id if len(batch) == BATCH else upto

    def _place(self, code: str, position: int, parent: str | None) -> None:
        self._since.setdefault(code, []).append(position)
        self._parent.setdefault(code, []).append(parent)

    def code_of(self, stream_id: UUID) -> str:
        """The code of the organization whose stream this is."""
        return self._codes[stream_id]

    def parent_at(self, code: str, position: int) -> str | None:
        """The organization's parent once the event at `position` was recorded."""
        since = self._since.get(code)
        if not since:
            return None
        index = bisect.bisect_right(since, position) - 1
        return self._parent[code][index] if index >= 0 else None

    def is_within(self, code: str, scope: str, position: int) -> bool:
        """Whether `code` was `scope` or inside its subtree once the event at `position` was recorded."""
        seen: set[str] = set()
        current: str | None = code
        while current is not None and current not in seen:
            if current == scope:
                return True
            seen.add(current)
            current = self.parent_at(current, position)
        return False


@dataclass(frozen=True)
class Entry:
    """One organization event, decoded: its position, CloudEvents type, organization and CloudEvent."""

    position: int
    type: str
    code: str
    event: dict[str, Any]


class Recent:
    """The newest events of the log, decoded once for every reader near the head.

    It holds every organization event with a position in (`floor`, `end`], and nothing else.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.floor = 0
        self.end = 0
        self.started = False
        self._positions: list[int] = []
        self._entries: list[Entry] = []
        self._lock = threading.Lock()

    def restart_at(self, position: int) -> None:
        """Forget everything: the cache covers nothing before `position`."""
        with self._lock:
            self.floor = self.end = position
            self._positions, self._entries = [], []
            self.started = True

    def extend(self, entries: Sequence[Entry], end: int) -> None:
        """Add the entries of (`self.end`, `end`], oldest first; drop the oldest beyond `size`."""
        with self._lock:
            self._positions.extend(entry.position for entry in entries)
            self._entries.extend(entries)
            self.end = end
            excess = len(self._entries) - self.size
            if excess > self.size // 4:
                self.floor = self._positions[excess - 1]
                del self._positions[:excess]
                del self._entries[:excess]

    def between(self, after: int, upto: int) -> tuple[list[Entry], int] | None:
        """The entries in (`after`, min(`upto`, end)] and that bound; None if the cache cannot say."""
        with self._lock:
            covered = min(upto, self.end)
            if not self.started or after < self.floor or covered <= after:
                return None
            start = bisect.bisect_right(self._positions, after)
            stop = bisect.bisect_right(self._positions, covered)
            return self._entries[start:stop], covered


@dataclass(frozen=True)
class Page:
    """Events after a position, and the position to ask from next."""

    events: list[dict[str, Any]]
    next_after: int


class Feed:
    """Reads the ledger's log as CloudEvents, filtered by type and by the subtree they were recorded in."""

    def __init__(self, ledger: Ledger, recent: int = RECENT) -> None:
        self.ledger = ledger
        self.lineage = Lineage(ledger)
        self.recent = Recent(recent)
        self._follow_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the feed has followed the log once (read the tree's history) since it started."""
        return self.recent.started

    def head(self) -> int:
        """The position of the newest event in the log."""
        return int(self.ledger.recorder.max_notification_id() or 0)

    def page(
        self,
        after: int,
        limit: int,
        types: frozenset[str] | None = None,
        scope: str | None = None,
        scan: int = SCAN,
        upto: int | None = None,
    ) -> Page:
        """Up to `limit` events after `after` and not after `upto` (the head by default), of these
        types, recorded inside `scope`'s subtree (None: everywhere), looking at no more than `scan`.

        `next_after` is the last position looked at: past every event returned and every event
        skipped, so asking again from it neither repeats nor misses one.
        """
        return self._page(after, limit, types, scope, scan, self.head() if upto is None else upto, memory_only=False)

    def cached_page(
        self, after: int, limit: int, types: frozenset[str] | None, scope: str | None, upto: int
    ) -> Page | None:
        """The same page from memory alone, without touching the store; None if memory cannot serve it."""
        if self.recent.between(after, upto) is None:
            return None
        return self._page(after, limit, types, scope, SCAN, upto, memory_only=True)

    def _page(
        self,
        after: int,
        limit: int,
        types: frozenset[str] | None,
        scope: str | None,
        scan: int,
        upto: int,
        memory_only: bool,
    ) -> Page:
        events: list[dict[str, Any]] = []
        position = after
        looked = 0
        topics = ALL_TOPICS if types is None else sorted(TYPE_TOPICS[t] for t in types)
        while len(events) < limit and looked < scan and position < upto:
            cached = self.recent.between(position, upto)
            if cached is not None:
                entries, covered = cached
                for entry in entries:
                    looked += 1
                    if (types is None or entry.type in types) and (
                        scope is None or self.lineage.is_within(entry.code, scope, entry.position)
                    ):
                        events.append(entry.event)
                        if len(events) == limit:
                            return Page(events, entry.position)
                position = covered
                continue
            if memory_only:
                break
            asked = min(BATCH, scan - looked)
            notifications = self.ledger.recorder.select_notifications(
                start=position, limit=asked, stop=upto, topics=topics, inclusive_of_start=False
            )
            covered = notifications[-1].id if len(notifications) == asked else upto
            self.lineage.advance(covered)
            for notification in notifications:
                looked += 1
                code = self.lineage.code_of(notification.originator_id)
                if scope is None or self.lineage.is_within(code, scope, notification.id):
                    events.append(self._decoded(notification, code).event)
                    if len(events) == limit:
                        return Page(events, notification.id)
            position = covered
        return Page(events, position)

    def _decoded(self, notification: Notification, code: str) -> Entry:
        event = self.ledger.mapper.to_domain_event(notification)
        return Entry(notification.id, TOPIC_TYPES[notification.topic], code, cloud_event(notification.id, code, event))

    def follow(self, head: int) -> None:
        """Decode the events up to `head` into memory, for the readers near the head (one thread calls this)."""
        with self._follow_lock:
            recent = self.recent
            if not recent.started or head - recent.end > recent.size:
                # Far behind (a bulk import): readers that far back read the store instead.
                self.lineage.advance(head)
                recent.restart_at(head)
                return
            while recent.end < head:
                notifications = self.ledger.recorder.select_notifications(
                    start=recent.end, limit=BATCH, stop=head, topics=ALL_TOPICS, inclusive_of_start=False
                )
                covered = notifications[-1].id if len(notifications) == BATCH else head
                self.lineage.advance(covered)
                entries = [self._decoded(n, self.lineage.code_of(n.originator_id)) for n in notifications]
                recent.extend(entries, covered)
