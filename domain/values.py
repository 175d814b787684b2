"""Value objects of the ledger: dates, periods, decisions, the person profile and the member's file."""

from __future__ import annotations

import functools

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.errors import InvalidValue


class Kind(Enum):
    """Kinds of party organization, from the Centre down to the cell."""

    CENTRAL = "central"
    PROVINCIAL = "provincial"
    UPPER_GRASSROOTS = "upper_grassroots"
    GRASSROOTS_COMMITTEE = "grassroots_committee"
    GRASSROOTS_CELL = "grassroots_cell"
    SUB_COMMITTEE = "sub_committee"
    CELL = "cell"

    @property
    def holds_members(self) -> bool:
        """Only cells keep a roster: a grassroots cell or a cell under a grassroots committee."""
        return self in (Kind.GRASSROOTS_CELL, Kind.CELL)

    @property
    def is_grassroots(self) -> bool:
        """A grassroots party organization (TCCSĐ): a grassroots committee or a grassroots cell."""
        return self in (Kind.GRASSROOTS_COMMITTEE, Kind.GRASSROOTS_CELL)

    @property
    def is_provincial_level(self) -> bool:
        """The level allowed to decide admissions of people over 60."""
        return self in (Kind.CENTRAL, Kind.PROVINCIAL)


class OrganizationStatus(Enum):
    """Whether an organization still exists, and how it ended."""

    ACTIVE = "active"
    MERGED = "merged"
    SPLIT = "split"
    DISSOLVED = "dissolved"


class Sex(Enum):
    MALE = "male"
    FEMALE = "female"


class MemberStatus(Enum):
    """Standing of a member on the roster; `in_transit` is shown on rosters, not stored."""

    PROBATIONARY = "probationary"
    OFFICIAL = "official"
    IN_TRANSIT = "in_transit"


class TransferKind(Enum):
    OFFICIAL = "official"
    TEMPORARY = "temporary"


class TransferPurpose(Enum):
    """Why a temporary transfer is made; study may last up to two years."""

    WORK = "work"
    STUDY = "study"


class RemovalReason(Enum):
    """Ways of leaving the Party (ra khỏi Đảng)."""

    EXPELLED = "expelled"
    DELISTED = "delisted"
    VOLUNTARY_EXIT = "voluntary_exit"
    DECEASED = "deceased"


class Education(Enum):
    """General education (trình độ giáo dục phổ thông)."""

    PRIMARY = "primary"
    LOWER_SECONDARY = "lower_secondary"
    UPPER_SECONDARY = "upper_secondary"


class ProfessionalLevel(Enum):
    """Professional qualification (trình độ chuyên môn)."""

    NONE = "none"
    VOCATIONAL = "vocational"
    COLLEGE = "college"
    UNIVERSITY = "university"
    MASTER = "master"
    DOCTORATE = "doctorate"


class PoliticalTheory(Enum):
    """Political theory level (trình độ lý luận chính trị)."""

    NONE = "none"
    ELEMENTARY = "elementary"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


class Occupation(Enum):
    """Occupation groups of Form 2 (đảng viên mới kết nạp)."""

    CIVIL_SERVANT = "civil_servant"
    PUBLIC_EMPLOYEE = "public_employee"
    STATE_ENTERPRISE = "state_enterprise"
    NON_STATE_ENTERPRISE = "non_state_enterprise"
    FARMER = "farmer"
    ARMED_FORCES = "armed_forces"
    STUDENT = "student"
    OTHER = "other"


CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NATIONAL_ID_PATTERN = re.compile(r"^[0-9]{9}$|^[0-9]{12}$")
# The years a plan may be set for: from the Party's founding to the end of the century.
FIRST_YEAR, LAST_YEAR = 1930, 2099
MAX_TERM_YEARS = 10
YEAR_PERIOD = re.compile(r"^(\d{4})$")
TERM_PERIOD = re.compile(r"^(\d{4})-(\d{4})$")

_ORGANIZATION_IDS = uuid5(NAMESPACE_URL, "https://dangvien.vn/ids/organization")
_PERSON_IDS = uuid5(NAMESPACE_URL, "https://dangvien.vn/ids/person")


@functools.lru_cache(maxsize=1 << 19)
def organization_id(code: str) -> UUID:
    """The stream id of the organization with this code (codes are never reused).

    Remembered: every command names organizations, and the country has a few hundred thousand."""
    return uuid5(_ORGANIZATION_IDS, code)


@functools.lru_cache(maxsize=1 << 16)
def person_id(national_id: str) -> UUID:
    """The stream id of the registry entry of the person with this national ID.

    Remembered for a while: a bulk import asks for the same person several times per command."""
    return uuid5(_PERSON_IDS, national_id)


def check_code(code: Any, field_name: str = "code") -> str:
    """An organization code: letters, digits, dots, dashes and underscores, at most 64."""
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        raise InvalidValue(field_name, "must be 1-64 letters, digits, '.', '-' or '_'")
    return code


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (29 Feb + 12 months = 28 Feb)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end` (the Charter counts ages and gaps in months)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day and add_months(start, months) > end:
        months -= 1
    return months


def age_in_years(birth_date: date, on: date) -> int:
    """Age in completed years on a date."""
    return months_between(birth_date, on) // 12


@dataclass(frozen=True)
class Period:
    """A plan period: a calendar year (`2022`) or a congress term (`2020-2025`)."""

    first_year: int
    last_year: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read `2022` or `2020-2025`; anything else is an invalid value. Years run from the
        Party's founding (1930) to the end of this century; a term lasts at most ten years (a
        congress term is five)."""
        first = last = None
        if m := YEAR_PERIOD.match(text):
            first = last = int(m.group(1))
        elif m := TERM_PERIOD.match(text):
            first, last = int(m.group(1)), int(m.group(2))
            if not first < last <= first + MAX_TERM_YEARS:
                first = last = None
        if first is None or last is None or first < FIRST_YEAR or last > LAST_YEAR:
            raise InvalidValue(
                "period", f"must be a year ({FIRST_YEAR} to {LAST_YEAR}) or a term of up to {MAX_TERM_YEARS} years (2020-2025)"
            )
        return cls(first, last)

    @classmethod
    def covering(cls, start: date, end: date) -> Period:
        """The period a report from `start` to `end` is measured against."""
        return cls(start.year, end.year)

    def __str__(self) -> str:
        if self.first_year == self.last_year:
            return str(self.first_year)
        return f"{self.first_year}-{self.last_year}"


@dataclass(frozen=True)
class Decision:
    """A decision (quyết định) by a committee: its number, date and issuing organization."""

    number: str
    issued_on: date
    issued_by: str | None = None

    def __post_init__(self) -> None:
        if not self.number or not self.number.strip():
            raise InvalidValue("decision.number", "must not be empty")
        if self.issued_by is not None:
            check_code(self.issued_by, "decision.issued_by")


def _fold(text: str) -> str:
    """Lower-case text without diacritics, to compare free-text answers such as ethnicity."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip().lower()


_MAJORITY_ETHNICITY = "kinh"
_NO_RELIGION = {"", "none", "khong", "khong co", "khong ton giao"}


@dataclass(frozen=True)
class PersonProfile:
    """What the ledger keeps about a person: identity and the facts Form 2 breaks down by."""

    national_id: str
    full_name: str
    birth_date: date
    sex: Sex
    ethnicity: str
    religion: str | None = None
    youth_union_member: bool = False
    education: Education | None = None
    professional_level: ProfessionalLevel | None = None
    political_theory: PoliticalTheory | None = None
    occupation: Occupation | None = None

    def __post_init__(self) -> None:
        if not NATIONAL_ID_PATTERN.match(self.national_id or ""):
            raise InvalidValue("person.national_id", "must be 12 digits (CCCD) or 9 digits")
        if not self.full_name or not self.full_name.strip():
            raise InvalidValue("person.full_name", "must not be empty")
        if not self.ethnicity or not self.ethnicity.strip():
            raise InvalidValue("person.ethnicity", "must not be empty")

    @property
    def is_ethnic_minority(self) -> bool:
        """Every ethnicity but the Kinh majority counts as an ethnic minority (dân tộc thiểu số)."""
        return _fold(self.ethnicity) != _MAJORITY_ETHNICITY

    @property
    def is_religious(self) -> bool:
        """A person who states a religion (tôn giáo)."""
        return self.religion is not None and _fold(self.religion) not in _NO_RELIGION


@dataclass(frozen=True)
class Transfer:
    """An open transfer of party activity, as the sending cell keeps it in the member's file."""

    transfer_id: UUID
    kind: TransferKind
    to: str
    issued_on: date
    until: date | None = None
    received_on: date | None = None


@dataclass(frozen=True)
class MemberFile:
    """The member's file (hồ sơ đảng viên), which travels with the member between cells."""

    member_id: UUID
    person: PersonProfile
    joined_on: date
    admitted_on: date
    probation_ends_on: date
    official_since: date | None = None
    last_event_on: date | None = None
    transfer: Transfer | None = None
    admissions: int = 1

    @property
    def status(self) -> MemberStatus:
        """Probationary until confirmed; official after."""
        return MemberStatus.OFFICIAL if self.official_since else MemberStatus.PROBATIONARY

    @property
    def roster_status(self) -> MemberStatus:
        """The status shown on the roster: `in_transit` while an official transfer is open."""
        if self.transfer is not None and self.transfer.kind is TransferKind.OFFICIAL:
            return MemberStatus.IN_TRANSIT
        return self.status

    def touched(self, on: date) -> MemberFile:
        """The file after an event effective on `on` (effective dates of a member only go forward)."""
        last = max(self.last_event_on or on, on)
        return replace(self, last_event_on=last)


@dataclass(frozen=True)
class Guest:
    """A member of another cell attending this one on a temporary transfer; not on its headcount."""

    transfer_id: UUID
    member_id: UUID
    full_name: str
    home: str
    received_on: date
    until: date


@dataclass(frozen=True)
class IncomingTransfer:
    """A transfer announced to this organization and not yet received here."""

    transfer_id: UUID
    member_id: UUID
    source: str
    kind: TransferKind
    issued_on: date
    until: date | None


@dataclass(frozen=True)
class Removal:
    """How and when a member left the Party, kept in the former member's file."""

    reason: RemovalReason
    effective_on: date
    was_probationary: bool


@dataclass(frozen=True)
class FormerMember:
    """A member who left the Party from this cell: the file as it was, and the removal."""

    file: MemberFile
    removal: Removal
