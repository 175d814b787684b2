"""The event feed: the organizations' events as CloudEvents 1.0, in global order, straight from the log.

The feed reads the ledger's notification log itself rather than a read model, so it is never
behind and never has gaps: `next_after` is the last position looked at, and a client that passes
it back sees each later event exactly once. The person registry's streams are bookkeeping for the
one-membership rule and are not part of the feed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timezone
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.ledger import Ledger
from domain.organization import Organization

SPEC_VERSION = "1.0"
BATCH = 500
# Fields of the library's envelope that the CloudEvent carries in its own attributes.
ENVELOPE = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp"})


def _event_classes() -> dict[str, type[Organization.Event]]:
    found: dict[str, type[Organization.Event]] = {}
    for name, value in vars(Organization).items():
        if isinstance(value, type) and issubclass(value, Organization.Event) and value is not Organization.Event:
            found[name] = value
    return found


EVENT_TYPES: dict[str, type[Organization.Event]] = _event_classes()
TOPICS = {get_topic(cls): name for name, cls in EVENT_TYPES.items()}


def plain(value: Any) -> Any:
    """The JSON form of the ledger's values: dates as YYYY-MM-DD, UUIDs as text, enums as values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (date, UUID)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def subject(event: Any) -> str | None:
    """The member an event is about, where there is one."""
    for holder in (event, getattr(event, "file", None), getattr(event, "guest", None), getattr(event, "transfer", None)):
        member_id = getattr(holder, "member_id", None)
        if member_id is not None:
            return str(member_id)
    return None


@dataclass(frozen=True)
class Page:
    """Events after a position, and the position to ask from next."""

    events: list[dict[str, Any]]
    next_after: int


class Feed:
    """Reads the ledger's log as CloudEvents, filtered by type and by the caller's subtree."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        # An organization's stream never changes its code, so the mapping is kept for good.
        self._codes: dict[UUID, str] = {}

    def head(self) -> int:
        """The position of the newest event in the log."""
        return int(self.ledger.recorder.max_notification_id() or 0)

    def _code_of(self, stream_id: UUID, event: Any) -> str:
        code = self._codes.get(stream_id)
        if code is None:
            if isinstance(event, Organization.Founded):
                code = event.code
            else:
                first = self.ledger.recorder.select_events(stream_id, limit=1)[0]
                code = self.ledger.mapper.to_domain_event(first).code  # type: ignore[attr-defined]
            self._codes[stream_id] = code
        return code

    def page(
        self,
        after: int,
        limit: int,
        types: Iterable[str] | None,
        within: Callable[[str], bool],
        scan: int,
        upto: int | None = None,
    ) -> Page:
        """Up to `limit` events after `after` (and not after `upto`), looking at no more than `scan`."""
        topics = list(TOPICS) if types is None else [get_topic(EVENT_TYPES[t]) for t in types]
        events: list[dict[str, Any]] = []
        position = after
        looked = 0
        decided: dict[str, bool] = {}
        while len(events) < limit and looked < scan:
            if upto is not None and position >= upto:
                break
            batch = self.ledger.recorder.select_notifications(
                start=position, limit=min(BATCH, scan - looked), stop=upto, topics=topics, inclusive_of_start=False
            )
            if not batch:
                break
            for notification in batch:
                position = notification.id
                looked += 1
                event = self.ledger.mapper.to_domain_event(notification)
                code = self._code_of(event.originator_id, event)
                if code not in decided:
                    decided[code] = within(code)
                if decided[code]:
                    events.append(self.cloud_event(notification.id, code, event))
                if len(events) == limit:
                    break
        return Page(events, position)

    @staticmethod
    def cloud_event(position: int, code: str, event: Any) -> dict[str, Any]:
        """One event as a CloudEvent: `id` the position, `source` the organization, `subject` the member."""
        data = {k: plain(v) for k, v in vars(event).items() if k not in ENVELOPE}
        body: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": str(position),
            "source": code,
            "type": type(event).__name__,
            "time": event.timestamp.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": data,
        }
        member = subject(event)
        if member is not None:
            body["subject"] = member
        return body
