"""The aggregate cache's copies: complete, independent, and sharing only what cannot change."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.ledger import Ledger
from domain.organization import Organization
from domain.registry import Person
from domain.values import organization_id, person_id
from service.importer import import_file
from service.synthetic import generate, open_text

ATOMS = (str, int, float, bool, bytes, date, datetime, UUID, Enum, type(None))


def immutable(value: Any) -> bool:
    """Nothing reachable from `value` can be changed in place."""
    if isinstance(value, ATOMS):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(immutable(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        frozen = type(value).__dataclass_params__.frozen  # type: ignore[attr-defined]
        return frozen and all(immutable(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


@pytest.fixture
def country(ledger: Ledger, tmp_path: Path) -> tuple[list[Organization], list[Person]]:
    """Every organization of a small synthetic country after its history, and the people of one cell."""
    path = tmp_path / "country.ndjson"
    with open_text(path, "w") as out:
        generate(out, 0.0002, seed=5)
    import_file(ledger, path)
    codes = set()
    national_ids = set()
    with open_text(path, "r") as lines:
        for line in lines:
            command = json.loads(line)
            if command.get("command") == "found_organization":
                codes.add(command["code"])
            elif command.get("command") == "admit":
                national_ids.add(command["person"]["national_id"])
    organizations = [ledger.repository.get(organization_id(c)) for c in sorted(codes)]
    people = [ledger.repository.get(person_id(n)) for n in sorted(national_ids)[:200]]
    return organizations, people


def test_every_value_an_aggregate_holds_below_its_containers_is_immutable(
    country: tuple[list[Organization], list[Person]],
) -> None:
    """The invariant the cheap copy rests on, over every organization of a history (ended, merged,
    split and busy ones) and many people."""
    organizations, people = country
    assert any(o.members for o in organizations) and any(o.former for o in organizations)
    assert any(o.children for o in organizations) and people
    for aggregate in [*organizations, *people]:
        for name, value in vars(aggregate).items():
            if isinstance(value, dict):
                held = tuple(value.items())
            elif isinstance(value, list):
                held = tuple(value)
            else:
                held = value
            assert immutable(held), (type(aggregate).__name__, name)


def test_a_copy_equals_the_original_and_owns_its_containers(
    country: tuple[list[Organization], list[Person]],
) -> None:
    """The copy has the same state; its dictionaries and lists are its own, their values shared."""
    organizations, people = country
    for aggregate in [*organizations, *people]:
        clone = copy.deepcopy(aggregate)
        assert type(clone) is type(aggregate) and vars(clone) == vars(aggregate)
        for name, value in vars(aggregate).items():
            if isinstance(value, (dict, list)):
                assert vars(clone)[name] is not value, name
    busiest = max(organizations, key=lambda o: len(o.members))
    clone = copy.deepcopy(busiest)
    member = next(iter(busiest.members))
    # Shared, not walked: what made copying a large cell cost two thirds of loading it.
    assert clone.members[member] is busiest.members[member]


def test_changing_a_loaded_organization_leaves_the_cache_alone(
    ledger: Ledger, country: tuple[list[Organization], list[Person]],
) -> None:
    """What a caller does to the organization it was handed is not seen by the next caller."""
    organizations, _ = country
    busiest = max(organizations, key=lambda o: len(o.members))
    handed = ledger.organization(busiest.code)
    count, version = len(handed.members), handed.version
    handed.members.clear()
    handed.children["X"] = handed.kind
    handed._pending_events.append(object())  # type: ignore[attr-defined]
    again = ledger.organization(busiest.code)
    assert (len(again.members), again.version, "X" in again.children) == (count, version, False)
    assert again.collect_events() == []
