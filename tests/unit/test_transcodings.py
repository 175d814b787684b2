"""How value objects are stored in events and snapshots, and read back years later."""

from __future__ import annotations

import json
from datetime import date
from uuid import uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from domain.errors import InvalidValue
from domain.transcodings import register_all
from domain.values import (
    Decision,
    Education,
    FormerMember,
    MemberFile,
    PersonProfile,
    Removal,
    RemovalReason,
    Sex,
    Transfer,
    TransferKind,
)


@pytest.fixture
def transcoder() -> JSONTranscoder:
    """The ledger's transcoder: the library's own transcodings, then the ledger's."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    register_all(transcoder)
    return transcoder


def stored(transcoder: JSONTranscoder, value: object) -> dict:
    """The JSON a value is stored as."""
    return json.loads(transcoder.encode(value))


def read(transcoder: JSONTranscoder, document: object) -> object:
    return transcoder.decode(json.dumps(document).encode())


def former_member() -> FormerMember:
    person = PersonProfile("001090000123", "Trần Văn An", date(1990, 4, 2), Sex.MALE, "Tày",
                           religion="Phật giáo", education=Education.UPPER_SECONDARY)
    transfer = Transfer(uuid4(), TransferKind.OFFICIAL, "HN.BADINH.KDC2", date(2024, 5, 1))
    file = MemberFile(uuid4(), person, date(2019, 3, 1), date(2019, 3, 1), date(2020, 3, 1),
                      official_since=date(2020, 3, 1), transfer=transfer, admissions=2)
    return FormerMember(file, Removal(RemovalReason.DECEASED, date(2025, 1, 9), was_probationary=False))


def test_every_value_reads_back_as_it_was(transcoder: JSONTranscoder) -> None:
    """A former member holds every kind of stored value: dataclasses, enums, dates, UUIDs."""
    value = former_member()
    again = read(transcoder, stored(transcoder, value))
    assert again == value
    assert again.file.person.sex is Sex.MALE and again.removal.reason is RemovalReason.DECEASED


def test_a_field_added_later_takes_its_default_and_one_dropped_later_is_ignored(transcoder: JSONTranscoder) -> None:
    document = stored(transcoder, Decision("12-QĐ/ĐU", date(2021, 3, 1), "HN"))
    del document["_data_"]["issued_by"]  # written before the field existed
    document["_data_"]["signed_by"] = "Nguyễn Văn B"  # a field since removed
    assert read(transcoder, document) == Decision("12-QĐ/ĐU", date(2021, 3, 1), None)


def test_a_stored_value_lacking_a_required_field_is_an_error_naming_it(transcoder: JSONTranscoder) -> None:
    document = stored(transcoder, Decision("12-QĐ/ĐU", date(2021, 3, 1)))
    del document["_data_"]["number"]
    with pytest.raises(ValueError, match="Decision lacks number"):
        read(transcoder, document)


def test_what_was_recorded_stays_loadable_when_a_check_is_tightened(transcoder: JSONTranscoder) -> None:
    """Stored values are not checked again: a record valid when written is never unreadable."""
    document = stored(transcoder, Decision("12-QĐ/ĐU", date(2021, 3, 1)))
    document["_data_"]["number"] = " "  # refused today, say accepted by an older version
    assert read(transcoder, document).number == " "
    with pytest.raises(InvalidValue):
        Decision(" ", date(2021, 3, 1))


def test_an_unknown_enumeration_value_is_an_error(transcoder: JSONTranscoder) -> None:
    document = stored(transcoder, RemovalReason.DECEASED)
    document["_data_"] = "vanished"
    with pytest.raises(ValueError, match="vanished"):
        read(transcoder, document)


def test_a_dataclass_with_computed_fields_is_refused_for_storage() -> None:
    """Decoding fills fields directly, so a field made by a factory could not be stored faithfully."""
    from dataclasses import dataclass, field

    from domain.transcodings import DataclassAsDict

    @dataclass(frozen=True)
    class Bag:
        items: list[str] = field(default_factory=list)

    with pytest.raises(TypeError, match="Bag"):
        DataclassAsDict(Bag)
