"""Many commands, one transaction: the unit of work behind bulk imports.

Inside a batch the ledger's commands run exactly as usual, every rule of the Charter included,
but against working copies of the streams held here, and their events are saved together when
the batch is flushed, in the order the commands recorded them. A command the Charter refuses
leaves no trace: the streams it touched are put back as the earlier commands of the batch left
them. Nothing of a batch is stored unless all of it is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from uuid import UUID


class Batch:
    """Working copies of streams, the events each command added, and their order."""

    def __init__(
        self,
        reload: Callable[[UUID], Any | None],
        keep_warm: int = 20_000,
        keep_organizations: int = 0,
        is_organization: Callable[[Any], bool] = lambda aggregate: False,
    ) -> None:
        self.reload = reload
        # How many streams stay in memory between flushes: `keep_warm` of the many small ones
        # (people) and, apart, `keep_organizations` of the few busy ones, which the stream of
        # people passing through must not push out.
        self.keep_warm = keep_warm
        self.keep_organizations = keep_organizations
        self.is_organization = is_organization
        self.aggregates: OrderedDict[UUID, Any] = OrderedDict()
        self.committed: dict[UUID, int] = {}
        self.events: list[Any] = []
        self.commands = 0
        # Streams the running command touched, with how many events each had pending then.
        self._touched: dict[UUID, int] = {}
        self._saved_order: list[UUID] = []
        # The held streams that gained events since the batch took them in (and in how many flushes).
        self.gained: dict[UUID, int] = {}
        # Streams known not to exist in the store (see `Ledger.prefetch_people`).
        self.absent: set[UUID] = set()

    def get(self, aggregate_id: UUID) -> Any | None:
        """The working copy of a stream, if the batch holds it."""
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is not None:
            self.aggregates.move_to_end(aggregate_id)
            self._touched.setdefault(aggregate_id, len(aggregate.pending_events))
        return aggregate

    def hold(self, aggregate: Any) -> None:
        """Keep a stream the running command loaded or created."""
        self.absent.discard(aggregate.id)
        self.aggregates[aggregate.id] = aggregate
        self._touched.setdefault(aggregate.id, 0 if aggregate.version > len(aggregate.pending_events) else -1)

    def warm(self, aggregate: Any) -> None:
        """Keep a stream loaded ahead of the commands that will need it (no command touched it)."""
        self.absent.discard(aggregate.id)
        self.aggregates[aggregate.id] = aggregate

    def record(self, *aggregates: Any) -> None:
        """The running command finished with these streams, in the order their events are saved."""
        for aggregate in aggregates:
            if aggregate is not None:
                self.hold(aggregate)
                self._saved_order.append(aggregate.id)

    def start_command(self) -> None:
        self._touched = {}
        self._saved_order = []

    def commit_command(self) -> None:
        """Accept what the command did: its events join the batch in the command's order."""
        for aggregate_id in dict.fromkeys(self._saved_order):
            aggregate = self.aggregates[aggregate_id]
            done = self.committed.get(aggregate_id, 0)
            self.events.extend(aggregate.pending_events[done:])
            self.committed[aggregate_id] = len(aggregate.pending_events)
        self.commands += 1

    def roll_back_command(self) -> None:
        """Undo a refused command: each stream it touched is rebuilt from its saved state
        and the events earlier commands of the batch added to it."""
        for aggregate_id, pending_before in self._touched.items():
            aggregate = self.aggregates.get(aggregate_id)
            if aggregate is not None and len(aggregate.pending_events) == pending_before:
                continue  # read, not changed
            self.aggregates.pop(aggregate_id, None)
            kept = aggregate.pending_events[: self.committed.get(aggregate_id, 0)] if aggregate else []
            state = self.reload(aggregate_id) if not kept or kept[0].originator_version > 1 else None
            for event in kept:
                state = event.mutate(state)
            if state is not None:
                state._pending_events = list(kept)  # noqa: SLF001 - the library's own field
                self.aggregates[aggregate_id] = state

    def saved(self) -> list[Any]:
        """The batch's events are stored: the working copies are now the stored state.

        Returns the streams let go of to stay within `keep_warm` that gained events meanwhile.
        """
        for aggregate_id in self.committed:
            aggregate = self.aggregates.get(aggregate_id)
            if aggregate is not None:
                aggregate.collect_events()
                self.gained[aggregate_id] = self.gained.get(aggregate_id, 0) + 1
        self.committed.clear()
        self.events = []
        self.absent.clear()
        leaving: list[Any] = []
        if len(self.aggregates) > self.keep_warm + self.keep_organizations:
            # Down to nine tenths of each budget, so that this pass over the streams held comes
            # only every so many flushes.
            organizations, others = [], []
            for aggregate_id, aggregate in self.aggregates.items():  # least recently used first
                (organizations if self.is_organization(aggregate) else others).append(aggregate_id)
            for ids, budget in ((organizations, self.keep_organizations), (others, self.keep_warm)):
                if len(ids) > budget:
                    for aggregate_id in ids[: len(ids) - budget * 9 // 10]:
                        aggregate = self.aggregates.pop(aggregate_id)
                        if self.gained.pop(aggregate_id, 0):
                            leaving.append(aggregate)
        return leaving

    def changed(self) -> list[Any]:
        """The held streams that gained events since the batch took them in."""
        return [self.aggregates[i] for i in self.gained if i in self.aggregates]
