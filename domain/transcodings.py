"""How the ledger's value objects are stored inside events and snapshots.

Each type is stored under a short, permanent name (not its module path), so code can be moved
without breaking old streams. Enumerations are stored by value, dataclasses as their fields.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain import values


class DateAsISO(Transcoding):
    """A calendar date as `YYYY-MM-DD`."""

    type = date
    name = "date"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    """An enumeration member as its value."""

    def __init__(self, enum_type: type[Enum]) -> None:
        self.type = enum_type
        self.name = enum_type.__name__

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        # The members by value, looked up directly: calling the enumeration costs five times more.
        member = self.type._value2member_map_.get(data)
        return member if member is not None else self.type(data)


class DataclassAsDict(Transcoding):
    """A frozen dataclass as a dict of its fields; fields added later take their defaults, fields
    dropped later are ignored.

    Decoding fills the object's fields without calling its constructor: what was recorded was
    checked when it was recorded, and stays loadable if a check is tightened later. It is also
    what a snapshot of a large cell spends its time on (a thousand member files and profiles), and
    a frozen dataclass's constructor sets each field through `object.__setattr__`.
    """

    def __init__(self, cls: type) -> None:
        fields = dataclasses.fields(cls)
        if any(f.default_factory is not dataclasses.MISSING or not f.init for f in fields):
            raise TypeError(f"{cls.__name__}: only plain fields, with or without a default, are stored")
        self.type = cls
        self.name = cls.__name__
        self._fields = frozenset(f.name for f in fields)
        self._defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
        self._required = self._fields - self._defaults.keys()

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        if not self._fields.issuperset(data):
            data = {k: v for k, v in data.items() if k in self._fields}
        if not self._required.issubset(data):
            missing = sorted(self._required - data.keys())
            raise ValueError(f"stored {self.name} lacks {', '.join(missing)}")
        obj = object.__new__(self.type)
        state = obj.__dict__
        state.update(self._defaults)
        state.update(data)
        return obj


STORED_ENUMS: tuple[type[Enum], ...] = (
    values.Kind,
    values.OrganizationStatus,
    values.Sex,
    values.MemberStatus,
    values.TransferKind,
    values.TransferPurpose,
    values.RemovalReason,
    values.Education,
    values.ProfessionalLevel,
    values.PoliticalTheory,
    values.Occupation,
)

STORED_DATACLASSES: tuple[type, ...] = (
    values.Decision,
    values.PersonProfile,
    values.Transfer,
    values.MemberFile,
    values.Guest,
    values.IncomingTransfer,
    values.Removal,
    values.FormerMember,
)


def register_all(transcoder: JSONTranscoder) -> None:
    """Teach the transcoder every value type that events and snapshots hold."""
    transcoder.register(DateAsISO())
    for enum_type in STORED_ENUMS:
        transcoder.register(EnumAsValue(enum_type))
    for cls in STORED_DATACLASSES:
        transcoder.register(DataclassAsDict(cls))
