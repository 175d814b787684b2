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
        return self.type(data)


class DataclassAsDict(Transcoding):
    """A frozen dataclass as a dict of its fields; fields added later take their defaults."""

    def __init__(self, cls: type) -> None:
        self.type = cls
        self.name = cls.__name__
        self._fields = frozenset(f.name for f in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**{k: v for k, v in data.items() if k in self._fields})


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
