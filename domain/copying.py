"""Copies of aggregates for the library's aggregate cache, made without `copy.deepcopy`'s walk.

The repository hands every caller a deep copy of the cached aggregate, so that a command refused
half-way, or a save that fails, cannot leave the cache holding changes that were never stored.
`copy.deepcopy` walks every member file, person profile and date of a cell's roster to make that
copy: two thirds of the time of loading a large cell, and a part of every command.

Everything the ledger's aggregates hold below their own attributes is immutable (frozen
dataclasses of strings, dates, enums and UUIDs, and the library's frozen events), so copying the
attributes' dictionaries and lists is already a complete deep copy: what the copy shares with the
original can be replaced in it but never changed in place. `tests/integration/test_copying.py`
checks that invariant on every kind of state the synthetic country produces.
"""

from __future__ import annotations

from typing import Any


class CopiedByContainers:
    """An aggregate whose deep copy copies its dict and list attributes and shares their values."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = object.__new__(type(self))
        state = clone.__dict__
        for name, value in self.__dict__.items():
            kind = type(value)
            state[name] = value.copy() if kind is dict or kind is list else value
        memo[id(self)] = clone
        return clone
