"""Realistic test data with random codes and IDs, and the check that a refused command recorded nothing."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest

from domain.errors import DomainError
from domain.ledger import Admission, Ledger
from domain.organization import Organization
from domain.values import (
    Decision,
    Education,
    Kind,
    Occupation,
    PersonProfile,
    Sex,
    add_months,
    organization_id,
)

CLERK = "ban-to-chuc.ba-dinh"
FOUNDED_ON = date(2015, 1, 1)
DECIDED_ON = date(2021, 3, 1)
ADMITTED_ON = date(2021, 3, 15)

FAMILY_NAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ"]
MIDDLE_NAMES = ["Văn", "Thị", "Đức", "Minh", "Thu", "Hữu", "Ngọc", "Quang"]
GIVEN_NAMES = ["An", "Bình", "Cường", "Dũng", "Hà", "Hương", "Lan", "Nam", "Phương", "Thảo", "Tuấn"]


def code(prefix: str) -> str:
    """An organization code like `HN.BADINH-3fa91c`, never the same twice."""
    return f"{prefix}-{secrets.token_hex(3)}"


def national_id() -> str:
    """A random 12-digit citizen ID number (số CCCD)."""
    return "0" + "".join(random.choices("0123456789", k=11))


def decision(issued_on: date = DECIDED_ON, issued_by: str | None = None) -> Decision:
    """A decision with a random number such as `1234-QĐ/ĐU`."""
    return Decision(f"{random.randint(1, 9999)}-QĐ/ĐU", issued_on, issued_by)


def person(**overrides: Any) -> PersonProfile:
    """An outstanding non-member, 25 on the usual admission date, with upper-secondary education."""
    profile = PersonProfile(
        national_id=national_id(),
        full_name=" ".join(
            random.choice(names) for names in (FAMILY_NAMES, MIDDLE_NAMES, GIVEN_NAMES)
        ),
        birth_date=date(1996, 1, 10),
        sex=random.choice(list(Sex)),
        ethnicity="Kinh",
        religion=None,
        youth_union_member=True,
        education=Education.UPPER_SECONDARY,
        occupation=Occupation.PUBLIC_EMPLOYEE,
    )
    return replace(profile, **overrides)


def born_months_before(on: date, months: int) -> date:
    """The birth date of someone exactly `months` old on `on`."""
    return add_months(on, -months)


@dataclass(frozen=True)
class Tree:
    """A branch of the tree: a province, a commune committee under it, and its cells.

    province (provincial) └ commune (upper grassroots) ├ cell_a, cell_b (grassroots cells)
                                                       └ committee (grassroots committee) └ cell_c (cell)
    """

    province: str
    commune: str
    cell_a: str
    cell_b: str
    committee: str
    cell_c: str


def found(ledger: Ledger, prefix: str, name: str, kind: Kind, parent: str | None, on: date = FOUNDED_ON) -> str:
    """Found an organization with a random code; return the code."""
    new_code = code(prefix)
    ledger.found_organization(new_code, name, kind, parent, on, decision(on), CLERK)
    return new_code


def build_tree(ledger: Ledger) -> Tree:
    """Found the branch described by `Tree` on 1 January 2015."""
    province = found(ledger, "HN", "Đảng bộ Thành phố Hà Nội", Kind.PROVINCIAL, None)
    commune = found(ledger, "HN.BADINH", "Đảng bộ phường Ba Đình", Kind.UPPER_GRASSROOTS, province)
    cell_a = found(ledger, "HN.BADINH.KDC1", "Chi bộ khu dân cư số 1", Kind.GRASSROOTS_CELL, commune)
    cell_b = found(ledger, "HN.BADINH.KDC2", "Chi bộ khu dân cư số 2", Kind.GRASSROOTS_CELL, commune)
    committee = found(
        ledger, "HN.BADINH.BV", "Đảng bộ Bệnh viện Xanh Pôn", Kind.GRASSROOTS_COMMITTEE, commune
    )
    cell_c = found(ledger, "HN.BADINH.BV.K1", "Chi bộ Khoa Nội", Kind.CELL, committee)
    return Tree(province, commune, cell_a, cell_b, committee, cell_c)


def admit(ledger: Ledger, cell: str, on: date = ADMITTED_ON, **profile: Any) -> tuple[Admission, PersonProfile]:
    """Admit a new person to `cell` on a decision two weeks before the ceremony."""
    candidate = person(**profile)
    admission = ledger.admit(cell, candidate, on, decision(on.replace(day=1)), CLERK)
    return admission, candidate


def org_version(ledger: Ledger, org_code: str) -> int:
    """The version of an organization's stream as stored."""
    return ledger.organization(org_code).version


def stream(ledger: Ledger, org_code: str) -> list[Organization.Event]:
    """Every event of an organization's stream, oldest first."""
    return list(ledger.events.get(organization_id(org_code)))  # type: ignore[arg-type]


@contextmanager
def refused(ledger: Ledger, error: type[DomainError], code: str) -> Iterator[pytest.ExceptionInfo[DomainError]]:
    """The block raises `error` with this `code`, and no event at all is recorded."""
    before = ledger.recorder.max_notification_id()
    with pytest.raises(error) as info:
        yield info
    assert info.value.code == code
    assert ledger.recorder.max_notification_id() == before
