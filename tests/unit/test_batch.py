"""The batch's memory: which streams it lets go of between flushes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from domain.batch import Batch


@dataclass
class Stream:
    """Just enough of an aggregate for the batch to hold it."""

    kind: str
    id: UUID = field(default_factory=uuid4)
    version: int = 1
    pending_events: list[Any] = field(default_factory=list)


def test_people_passing_through_do_not_push_out_the_organizations() -> None:
    """Organizations are kept within their own budget, however many people come after them."""
    batch = Batch(lambda _: None, keep_warm=10, keep_organizations=3, is_organization=lambda s: s.kind == "org")
    organizations = [Stream("org") for _ in range(3)]
    for stream in organizations:
        batch.warm(stream)
    people = [Stream("person") for _ in range(50)]
    for stream in people:
        batch.warm(stream)
    batch.saved()
    held = set(batch.aggregates)
    assert {s.id for s in organizations} <= held
    assert len(held - {s.id for s in organizations}) <= 10
    assert people[-1].id in held and people[0].id not in held


def test_organizations_beyond_their_budget_go_least_recently_used_first() -> None:
    batch = Batch(lambda _: None, keep_warm=0, keep_organizations=10, is_organization=lambda s: s.kind == "org")
    organizations = [Stream("org") for _ in range(20)]
    for stream in organizations:
        batch.warm(stream)
    batch.get(organizations[0].id)  # used again: now the most recent
    batch.saved()
    held = set(batch.aggregates)
    assert organizations[0].id in held and organizations[-1].id in held
    assert organizations[1].id not in held and len(held) <= 10
