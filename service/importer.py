"""Bulk import: command files and the commissions' rosters, through the Charter's rules, in batches.

What a file holds is told by its name:

- `*.ndjson`, `*.jsonl` (or either with `.gz`): one JSON command per line, as `dangvien generate`
  writes them. A line is the body of the matching HTTP call of shared/API.md plus `"command"` and
  the path's parameters (`"organization"`, `"period"`), e.g. `{"command": "admit", "organization":
  "HANOI.H01.G001.C01", "person": {...}, "admitted_on": "2016-03-15", "decision": {...}}`. Members
  are named by `"member": {"national_id": "..."}` (or `{"member_id": "..."}`), so a file can refer
  to members admitted earlier in it; a reception, a return or a cancellation concerns the member's
  open transfer. The commands are in `COMMANDS`. A first line `{"format": "dangvien.commands/1"}`
  is optional.
- `*.csv` and `*.xlsx`: a roster as the commissions keep it, one member per row, with a header row
  (under a title, if the roster has one) naming the columns in English or Vietnamese (`Mã chi bộ`, `Họ và tên`, `Số CCCD`, `Ngày sinh`,
  `Giới tính`, `Dân tộc`, `Tôn giáo`, `Ngày vào Đảng`, `Ngày chính thức`, ...; see `ROSTER_COLUMNS`).
  A row admits the member to the cell on the admission date and, when an official date is given,
  confirms the membership from the end of probation.

Commands run through `Ledger.batch`: every rule of the Charter is checked as for a single command,
and a batch of commands is saved in one transaction. When a row is bad:

- refused by the Charter (a `DomainError`: an admission of someone already a member, a date out of
  order, an unknown organization or member, an invalid value): the row is skipped and reported with
  its line number and the error's code; what it had done is rolled back and the rest of its batch
  is saved. A roster row's confirmation is tried only once its admission was accepted, and its
  dates are checked before the admission (`check_roster_dates`), so that it cannot be refused on its own.
- malformed (not JSON, an unknown command, a missing or ill-typed field, an unreadable date), or
  a file that cannot be read (a CSV not in UTF-8, a workbook that is not .xlsx): the import stops there. The batch holding the line is dropped whole, the batches before it stay
  saved, and the summary names the line and the line to start again from (`start_line`) once it is
  corrected.

Either way no batch is ever half-written, and a row is applied whole or not at all.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from pydantic import BaseModel, Field, StrictInt, ValidationError, model_validator

from domain.collector import CollectorPacing
from domain.errors import DomainError, MemberNotFound, TransferNotFound
from domain.ledger import Ledger
from domain.rules import probation_ends_on
from service.fields import Body, Code, NationalId
from service.routes.members import (
    AdmissionBody,
    CancellationBody,
    ConfirmationBody,
    ReceptionBody,
    RemovalBody,
    RestorationBody,
    ReturnBody,
    TransferBody,
)
from service.routes.organizations import RESTRUCTURINGS, Founding, Restructuring

FORMAT = "dangvien.commands/1"
BATCH_SIZE = 1000
KEPT_REFUSALS = 100
RECORDED_BY = "import"
# Streams kept in memory between batches (a few kB each): a history in date order comes back to a
# cell or a person months later, and every stream not kept costs two queries to load again.
KEEP_WARM = 100_000
# A transaction is saved early once it holds this many events, or this many restructurings.
MAX_PENDING_EVENTS = 5_000
MAX_PENDING_RESTRUCTURINGS = 20
# Organizations kept in memory apart from the people, so that people passing through do not push
# them out: a province's whole tree at least (the country has about 325,000).
KEEP_ORGANIZATIONS = 50_000
# The store's statistics of the log are refreshed (`Ledger.refresh_statistics`) once the import has
# added this many events, then each time the log has doubled since, and at the end: the plans of
# the import's own reads of streams depend on them, and the server's autovacuum takes its time.
STATISTICS_AFTER = 10_000


class Malformed(Exception):
    """A line that is not a command at all; it stops the import (see the module's policy)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class ImportFailed(RuntimeError):
    """An unexpected error while applying a line; its batch was dropped."""


@dataclass(frozen=True)
class Refusal:
    """A row the Charter refused, or the malformed line that stopped the import."""

    line: int
    command: str
    code: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The refusal as JSON."""
        return {"line": self.line, "command": self.command, "code": self.code, "detail": self.detail}


@dataclass
class ImportSummary:
    """The outcome of an import: what was applied and refused, and how fast."""

    path: str
    lines: int = 0
    applied: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    position: int = 0
    stopped: Refusal | None = None
    resume_from: int | None = None

    @property
    def events_per_second(self) -> float:
        """Events recorded per second of the whole import."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON."""
        return {
            "path": self.path,
            "lines": self.lines,
            "applied": self.applied,
            "refused": dict(self.refused),
            "refusals": [r.as_dict() for r in self.refusals],
            "events": self.events,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "position": self.position,
            "stopped": self.stopped.as_dict() if self.stopped else None,
            "resume_from": self.resume_from,
        }


# --- the command lines --------------------------------------------------------------------------


class MemberRef(BaseModel):
    """A member named by national ID (resolved through the registry) or by member id."""

    national_id: NationalId | None = None
    member_id: UUID | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberRef:
        if (self.national_id is None) == (self.member_id is None):
            raise ValueError("name the member by national_id or by member_id")
        return self


class OnOrganization(Body):
    """A command recorded on an organization (the `{code}` of the HTTP path)."""

    organization: Code


class OnMember(OnOrganization):
    """A command about a member of the organization."""

    member: MemberRef


class FoundLine(Founding):
    """`found_organization`: the body of `POST /v1/organizations`."""


class RestructureLine(OnOrganization, Restructuring):
    """`restructure`: the body of `POST /v1/organizations/{code}/restructurings`."""


class PlanLine(OnOrganization):
    """`set_plan`: `PUT /v1/organizations/{code}/plans/{period}`."""

    period: str = Field(max_length=9)
    admissions: StrictInt = Field(ge=0, le=1_000_000)


class AdmitLine(OnOrganization, AdmissionBody):
    """`admit`: `POST /v1/organizations/{code}/admissions`."""


class ConfirmLine(OnMember, ConfirmationBody):
    """`confirm_membership`: `POST .../members/{member_id}/confirmation`."""


class TransferLine(OnMember, TransferBody):
    """`issue_transfer`: `POST .../members/{member_id}/transfers`."""


class ReceptionLine(OnOrganization, ReceptionBody):
    """`receive_transfer` at the destination: the transfer by id, or the member's open transfer."""

    member: MemberRef | None = None
    transfer_id: UUID | None = None


class ReturnLine(OnOrganization, ReturnBody):
    """`end_temporary_transfer` at the host: the transfer by id, or the member's open transfer."""

    member: MemberRef | None = None
    transfer_id: UUID | None = None


class CancelLine(OnMember, CancellationBody):
    """`cancel_transfer`: the member's open transfer, before it is received."""


class RemoveLine(OnMember, RemovalBody):
    """`remove_member`: `POST .../members/{member_id}/removal`."""


class RestoreLine(OnOrganization, RestorationBody):
    """`restore_member`: `POST /v1/organizations/{code}/restorations`."""


def member_id_of(ledger: Ledger, ref: MemberRef) -> UUID:
    """The member id of a reference; a national ID never admitted is `member-not-found`."""
    if ref.member_id is not None:
        return ref.member_id
    assert ref.national_id is not None
    person = ledger.person(ref.national_id)
    if person is None:
        raise MemberNotFound("no member was ever registered with this national ID")
    return person.member_id


def open_transfer_of(ledger: Ledger, ref: MemberRef | None, transfer_id: UUID | None) -> UUID:
    """The transfer a line names: by id, or the open transfer of the member it names by national ID."""
    if transfer_id is not None:
        return transfer_id
    if ref is None or ref.national_id is None:
        raise TransferNotFound("name the transfer by transfer_id, or the member by national_id")
    person = ledger.person(ref.national_id)
    if person is None:
        raise MemberNotFound("no member was ever registered with this national ID")
    if person.organization is None:
        raise TransferNotFound(f"member {person.member_id} is on no roster, so has no open transfer")
    file = ledger.organization(person.organization).members.get(str(person.member_id))
    if file is None or file.transfer is None:
        raise TransferNotFound(f"member {person.member_id} has no open transfer")
    return file.transfer.transfer_id


Handler = Callable[[Ledger, Any, str], Any]

COMMANDS: dict[str, tuple[type[BaseModel], Handler]] = {
    "found_organization": (
        FoundLine,
        lambda ledger, c, by: ledger.found_organization(
            c.code, c.name, c.kind, c.parent, c.founded_on, c.decision.value() if c.decision else None, by
        ),
    ),
    "restructure": (RestructureLine, lambda ledger, c, by: RESTRUCTURINGS[c.action](ledger, c.organization, c, by)),
    "set_plan": (PlanLine, lambda ledger, c, by: ledger.set_plan(c.organization, c.period, c.admissions, by)),
    "admit": (
        AdmitLine,
        lambda ledger, c, by: ledger.admit(
            c.organization, c.person.value(), c.admitted_on, c.decision.value(), by, hard_area=c.hard_area
        ),
    ),
    "confirm_membership": (
        ConfirmLine,
        lambda ledger, c, by: ledger.confirm_membership(
            c.organization, member_id_of(ledger, c.member), c.decided_on, c.decision.value(), by
        ),
    ),
    "issue_transfer": (
        TransferLine,
        lambda ledger, c, by: ledger.issue_transfer(
            c.organization, member_id_of(ledger, c.member), c.to, c.kind, c.issued_on, c.until,
            c.decision.value(), by, purpose=c.purpose,
        ),
    ),
    "receive_transfer": (
        ReceptionLine,
        lambda ledger, c, by: ledger.receive_transfer(
            c.organization, open_transfer_of(ledger, c.member, c.transfer_id), c.received_on, by
        ),
    ),
    "end_temporary_transfer": (
        ReturnLine,
        lambda ledger, c, by: ledger.end_temporary_transfer(
            c.organization, open_transfer_of(ledger, c.member, c.transfer_id), c.returned_on, by
        ),
    ),
    "cancel_transfer": (
        CancelLine,
        lambda ledger, c, by: ledger.cancel_transfer(
            c.organization, member_id_of(ledger, c.member), c.cancelled_on,
            c.decision.value() if c.decision else None, by,
        ),
    ),
    "remove_member": (
        RemoveLine,
        lambda ledger, c, by: ledger.remove_member(
            c.organization, member_id_of(ledger, c.member), c.reason, c.effective_on, c.decision.value(), by
        ),
    ),
    "restore_member": (
        RestoreLine,
        lambda ledger, c, by: ledger.restore_member(
            c.organization, c.national_id, c.restored_on, c.decision.value(), by
        ),
    ),
}


class RosterDates(BaseModel):
    """The dates of a roster row's admission and confirmation (`check_roster_dates`)."""

    admitted_on: date
    decided_on: date


def check_roster_dates(ledger: Ledger, dates: RosterDates, recorded_by: str) -> None:
    """A roster row's first step: what would refuse its confirmation alone (a date after today)
    refuses the whole row before its admission is applied."""
    ledger.check_not_after_today(admitted_on=dates.admitted_on, decided_on=dates.decided_on)


# The steps of a row, by name: the commands, and the checks a roster row makes first.
STEPS: dict[str, Callable[[Ledger, Any, str], Any]] = {
    **{name: apply for name, (_, apply) in COMMANDS.items()},
    "check_roster_dates": check_roster_dates,
}


def describe(invalid: ValidationError) -> str:
    """A validation error as `field.path: message; ...`."""
    parts = []
    for error in invalid.errors():
        where = ".".join(str(p) for p in error["loc"]) or "line"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


# A unit of work: the line it came from, what to call it in a report, and its steps. A step is
# (command name, parsed line); later steps run only when the earlier ones were accepted.
Row = tuple[int, str, list[tuple[str, BaseModel]]]


def parse_command(line: int, text: bytes | str) -> Row | None:
    """One NDJSON line as a row of one command; None for a blank line or the format header."""
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as bad:
        raise Malformed(line, f"not JSON ({bad})") from None
    if not isinstance(obj, dict):
        raise Malformed(line, "a command must be a JSON object")
    if "format" in obj and "command" not in obj:
        if obj["format"] != FORMAT:
            raise Malformed(line, f"format {obj['format']!r} is not {FORMAT!r}")
        return None
    name = obj.get("command")
    if name not in COMMANDS:
        raise Malformed(line, f"unknown command {name!r}; expected one of {', '.join(COMMANDS)}")
    model, _ = COMMANDS[name]
    try:
        return line, name, [(name, model.model_validate(obj))]
    except ValidationError as invalid:
        raise Malformed(line, f"{name}: {describe(invalid)}") from None


# --- rosters --------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower-case letters and digits only, without diacritics: how headers and labels are compared."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).lower()


ROSTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "cell": ("cell", "Mã chi bộ", "Chi bộ", "organization"),
    "full_name": ("full_name", "Họ và tên", "Họ tên"),
    "national_id": ("national_id", "Số CCCD", "CCCD", "Số căn cước công dân", "Số định danh cá nhân"),
    "birth_date": ("birth_date", "Ngày sinh", "Ngày tháng năm sinh"),
    "sex": ("sex", "Giới tính"),
    "ethnicity": ("ethnicity", "Dân tộc"),
    "religion": ("religion", "Tôn giáo"),
    "admitted_on": ("admitted_on", "Ngày vào Đảng", "Ngày kết nạp"),
    "official_since": ("official_since", "Ngày chính thức", "Ngày công nhận chính thức"),
    "decision": ("decision", "Số quyết định", "Số quyết định kết nạp"),
    "youth_union_member": ("youth_union_member", "Đoàn viên"),
    "education": ("education", "Giáo dục phổ thông", "Trình độ giáo dục phổ thông", "Học vấn"),
    "professional_level": ("professional_level", "Chuyên môn", "Trình độ chuyên môn"),
    "political_theory": ("political_theory", "Lý luận chính trị", "Trình độ lý luận chính trị"),
    "occupation": ("occupation", "Nghề nghiệp"),
    "hard_area": ("hard_area", "Vùng khó khăn"),
}
REQUIRED_COLUMNS = ("cell", "full_name", "national_id", "birth_date", "sex", "ethnicity", "admitted_on")
_HEADERS = {fold(alias): name for name, aliases in ROSTER_COLUMNS.items() for alias in aliases}

# Labels as rosters write them, folded, mapped to the values of the API.
_LABELS: dict[str, dict[str, str]] = {
    "sex": {"nam": "male", "male": "male", "m": "male", "nu": "female", "female": "female", "f": "female"},
    "education": {
        "tieuhoc": "primary", "primary": "primary", "512": "primary",
        "thcs": "lower_secondary", "lowersecondary": "lower_secondary", "912": "lower_secondary",
        "trunghoccoso": "lower_secondary",
        "thpt": "upper_secondary", "uppersecondary": "upper_secondary", "1212": "upper_secondary",
        "trunghocphothong": "upper_secondary",
    },
    "professional_level": {
        "khong": "none", "none": "none", "socap": "vocational", "trungcap": "vocational", "vocational": "vocational",
        "caodang": "college", "college": "college", "daihoc": "university", "university": "university",
        "thacsi": "master", "master": "master", "tiensi": "doctorate", "doctorate": "doctorate",
    },
    "political_theory": {
        "khong": "none", "none": "none", "socap": "elementary", "elementary": "elementary",
        "trungcap": "intermediate", "intermediate": "intermediate", "caocap": "advanced", "cunhan": "advanced",
        "advanced": "advanced",
    },
    "occupation": {
        "congchuc": "civil_servant", "vienchuc": "public_employee", "nongdan": "farmer",
        "hocsinh": "student", "sinhvien": "student", "hocsinhsinhvien": "student",
        "quandoi": "armed_forces", "congan": "armed_forces", "lucluongvutrang": "armed_forces",
        "doanhnghiepnhanuoc": "state_enterprise", "doanhnghiepngoainhanuoc": "non_state_enterprise",
        "khac": "other",
    },
}
_TRUE = {"x", "co", "yes", "true", "1", "y"}
_NO_RELIGION = {"", "khong", "none", "khongco"}
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
ROSTER_DECISION = "Theo sổ danh sách"  # "as kept in the roster", when the row gives no decision number


def roster_date(value: Any) -> Any:
    """A roster's date (`2016-03-15`, `15/03/2016` or an Excel date) as `YYYY-MM-DD`; else as given."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and (m := _DMY.match(value.strip())):
        day, month, year = (int(g) for g in m.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return value
    return value.strip() if isinstance(value, str) else value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def roster_row(line: int, cells: dict[str, Any]) -> Row:
    """One roster row as an admission and, when it has an official date, a confirmation."""
    text = {name: _text(value) for name, value in cells.items() if name not in ("birth_date", "admitted_on", "official_since")}
    person: dict[str, Any] = {
        "national_id": text.get("national_id"),
        "full_name": text.get("full_name"),
        "birth_date": roster_date(cells.get("birth_date")),
        "sex": _LABELS["sex"].get(fold(text.get("sex") or ""), text.get("sex")),
        "ethnicity": text.get("ethnicity"),
    }
    religion = text.get("religion")
    if religion is not None and fold(religion) not in _NO_RELIGION:
        person["religion"] = religion
    if text.get("youth_union_member") is not None:
        person["youth_union_member"] = fold(text["youth_union_member"] or "") in _TRUE
    for column in ("education", "professional_level", "political_theory", "occupation"):
        if text.get(column) is not None:
            person[column] = _LABELS[column].get(fold(text[column] or ""), text[column])
    if isinstance(person["national_id"], str) and person["national_id"].isdigit() and len(person["national_id"]) == 11:
        person["national_id"] = "0" + person["national_id"]  # a spreadsheet ate the leading zero
    admitted_on = roster_date(cells.get("admitted_on"))
    number = text.get("decision") or ROSTER_DECISION
    admission = {
        "organization": text.get("cell"),
        "person": person,
        "admitted_on": admitted_on,
        "decision": {"number": number, "issued_on": admitted_on},
        "hard_area": fold(text.get("hard_area") or "") in _TRUE,
    }
    try:
        admit = AdmitLine.model_validate(admission)
    except ValidationError as invalid:
        raise Malformed(line, describe(invalid)) from None
    steps: list[tuple[str, BaseModel]] = [("admit", admit)]
    official = cells.get("official_since")
    if _text(official) is not None:
        official_on = roster_date(official)
        try:
            official_day = date.fromisoformat(official_on)
        except (TypeError, ValueError):
            raise Malformed(line, f"official_since: {official!r} is not a date") from None
        if official_day < admit.admitted_on:
            raise Malformed(line, "official_since: before the admission date")
        # The membership is official from the end of probation; the decision cannot come earlier.
        decided_on = max(official_day, probation_ends_on(admit.admitted_on)).isoformat()
        confirm = ConfirmLine.model_validate(
            {
                "organization": admit.organization,
                "member": {"national_id": admit.person.national_id},
                "decided_on": decided_on,
                "decision": {"number": number, "issued_on": decided_on},
            }
        )
        steps.insert(0, ("check_roster_dates", RosterDates(admitted_on=admit.admitted_on, decided_on=decided_on)))
        steps.append(("confirm_membership", confirm))
    return line, "roster row", steps


# A roster often opens with a title above its header (the committee's name, "DANH SÁCH ĐẢNG VIÊN",
# a date): the header is the first of its first rows to name every required column.
HEADER_SEARCH_ROWS = 20


class RosterHeader:
    """Finds a roster's header row among its first non-empty rows, skipping the title above it."""

    def __init__(self) -> None:
        self.names: list[str | None] | None = None
        self.rows_seen = 0
        # The row that came closest to a header, to say what it lacks if none is found.
        self.closest: tuple[int, int, list[Any]] | None = None

    def offer(self, line: int, values: list[Any]) -> None:
        """A non-empty row before the header: the header itself, or a title row to skip."""
        names = [_HEADERS.get(fold(str(h))) if h is not None else None for h in values]
        if all(c in names for c in REQUIRED_COLUMNS):
            self.names = names
            return
        known = sum(1 for n in names if n is not None)
        if self.closest is None or known > self.closest[0]:
            self.closest = (known, line, values)
        self.rows_seen += 1
        if self.rows_seen >= HEADER_SEARCH_ROWS:
            self.finish()

    def finish(self) -> None:
        """At the end of the rows searched (or of the file): no header is malformed."""
        if self.names is None and self.closest is not None:
            roster_header(self.closest[1], self.closest[2])


def roster_header(line: int, header: list[Any]) -> list[str | None]:
    """The column names of a roster's header row; a missing required column is malformed."""
    names = [_HEADERS.get(fold(str(h))) if h is not None else None for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise Malformed(line, f"the header lacks {', '.join(missing)} (see ROSTER_COLUMNS for the names)")
    return names


# --- reading files --------------------------------------------------------------------------------


class Source:
    """Rows from a file, with how far through it the reading is (for a progress bar)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total = max(1, path.stat().st_size)
        self._raw: BinaryIO | None = None

    @property
    def done(self) -> int:
        """Bytes of the file read so far."""
        return self._raw.tell() if self._raw is not None and not self._raw.closed else self.total

    def rows(self, start_line: int) -> Iterator[Row | None]:
        """The file's rows from `start_line` on (None for lines that hold no command)."""
        name = self.path.name.lower().removesuffix(".gz")
        if name.endswith((".ndjson", ".jsonl", ".json")):
            return self._commands(start_line)
        if name.endswith(".csv"):
            return self._csv(start_line)
        if name.endswith((".xlsx", ".xlsm")):
            return self._excel(start_line)
        raise Malformed(0, f"{self.path.name}: expected .ndjson, .jsonl, .csv or .xlsx (optionally .gz)")

    def _open(self) -> BinaryIO:
        self._raw = open(self.path, "rb")
        if self.path.name.lower().endswith(".gz"):
            return gzip.GzipFile(fileobj=self._raw)  # type: ignore[return-value]
        return self._raw

    def _commands(self, start_line: int) -> Iterator[Row | None]:
        with self._open() as f:
            for line, text in enumerate(f, start=1):
                yield parse_command(line, text) if line >= start_line else None

    def _csv(self, start_line: int) -> Iterator[Row | None]:
        with self._open() as f:
            text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
            sample = text.read(4096)
            text.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(text, dialect)
            header = RosterHeader()
            for values in reader:
                line = reader.line_num
                if not any(v.strip() for v in values):
                    yield None
                    continue
                if header.names is None:
                    header.offer(line, values)
                    yield None
                    continue
                if line < start_line:
                    yield None
                    continue
                yield roster_row(line, {n: v for n, v in zip(header.names, values) if n is not None})
            header.finish()

    def _excel(self, start_line: int) -> Iterator[Row | None]:
        from openpyxl import load_workbook

        workbook = load_workbook(self.path, read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            header = RosterHeader()
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if not any(_text(v) for v in values):
                    yield None
                    continue
                if header.names is None:
                    header.offer(line, list(values))
                    yield None
                    continue
                if line < start_line:
                    yield None
                    continue
                yield roster_row(line, {n: v for n, v in zip(header.names, values) if n is not None})
            header.finish()
        finally:
            workbook.close()


# --- importing ------------------------------------------------------------------------------------


def national_ids_named(rows: list[Row]) -> Iterator[str]:
    """The national IDs of the people a batch admits or names."""
    for _line, _label, steps in rows:
        for name, parsed in steps:
            if name == "admit":
                yield parsed.person.national_id  # type: ignore[attr-defined]
            member = getattr(parsed, "member", None)
            if member is not None and member.national_id is not None:
                yield member.national_id


def import_file(
    ledger: Ledger,
    path: str | Path,
    *,
    batch_size: int = BATCH_SIZE,
    start_line: int = 1,
    recorded_by: str = RECORDED_BY,
    progress: Callable[[int, int], None] | None = None,
    on_refused: Callable[[Refusal], None] | None = None,
    keep_warm: int = KEEP_WARM,
    statistics_after: int = STATISTICS_AFTER,
) -> ImportSummary:
    """Apply a command file or a roster through the ledger, `batch_size` rows per transaction.

    See the module's docstring for the policy on bad rows. `progress(bytes_read, bytes_total)` is
    called after every batch; `on_refused` receives every refusal (the summary keeps the first
    hundred). `keep_warm` streams stay in memory between batches. The store's statistics of the
    log are refreshed as it grows (see `STATISTICS_AFTER`).
    """
    source = Source(Path(path))
    summary = ImportSummary(path=str(path))
    started = time.perf_counter()
    start_position = ledger.recorder.max_notification_id() or 0
    summary.position = start_position
    batch_first_line = start_line
    pending_applied = 0
    pending_refusals: list[Refusal] = []
    rows_in_batch = 0
    analyzed_at = start_position

    def refresh_statistics(share: float) -> None:
        """Once the log has grown by `share` of its size when last counted (and by enough)."""
        nonlocal analyzed_at
        if summary.position - analyzed_at >= max(statistics_after, share * analyzed_at):
            ledger.refresh_statistics()
            analyzed_at = summary.position

    def save() -> None:
        nonlocal pending_applied, rows_in_batch, batch_first_line
        summary.position = ledger.flush()
        refresh_statistics(1.0)
        summary.batches += 1
        summary.applied += pending_applied
        for refusal in pending_refusals:
            summary.refused[refusal.code] += 1
            if len(summary.refusals) < KEPT_REFUSALS:
                summary.refusals.append(refusal)
            if on_refused is not None:
                on_refused(refusal)
        pending_applied, rows_in_batch = 0, 0
        pending_refusals.clear()
        pacing.batch_done()
        if progress is not None:
            progress(source.done, source.total)

    def apply(rows: list[Row]) -> None:
        nonlocal pending_applied
        # The people the batch names, loaded (or known to be new) in one query rather than one each.
        ledger.prefetch_people(national_ids_named(rows))
        restructurings = 0
        for line, _label, steps in rows:
            summary.lines = line
            for name, parsed in steps:
                try:
                    STEPS[name](ledger, parsed, recorded_by)
                except DomainError as refused:
                    pending_refusals.append(Refusal(line, name, refused.code, refused.detail))
                    break
                except Exception as failure:
                    # Not the Charter's refusal but a fault: stop, dropping the batch, and say where.
                    raise ImportFailed(f"line {line} ({name}): {failure!r}") from failure
                pending_applied += name in COMMANDS
                restructurings += name == "restructure"
            # Restructurings carry whole rosters: a run of them (the 2025 reform) would make one
            # transaction of hundreds of megabytes, on which psycopg's pipeline mode can hang.
            if ledger.pending_events >= MAX_PENDING_EVENTS or restructurings >= MAX_PENDING_RESTRUCTURINGS:
                save()
                restructurings = 0
        save()

    rows: list[Row] = []
    try:
        with CollectorPacing() as pacing, ledger.batch(keep_warm=keep_warm, keep_organizations=KEEP_ORGANIZATIONS):
            # A batch is read whole before it is applied: a malformed line drops it before any of
            # it runs, and the people it admits are looked up together.
            for row in source.rows(start_line):
                if row is None:
                    continue
                if not rows:
                    batch_first_line = row[0]
                rows.append(row)
                rows_in_batch = len(rows)
                if rows_in_batch >= batch_size:
                    apply(rows)
                    rows = []
            if rows:
                apply(rows)
    except Malformed as bad:
        summary.stopped = Refusal(bad.line, "", "malformed", bad.message)
        summary.resume_from = batch_first_line if rows_in_batch else max(1, bad.line)
    except (UnicodeError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError) as unreadable:
        # Not text in UTF-8 (a CSV saved in a legacy code page), or not the workbook or gzip
        # file its name says: stop as for a malformed line, the batch being read dropped whole.
        line = rows[-1][0] + 1 if rows else max(start_line, summary.lines + 1)
        summary.stopped = Refusal(
            line, "", "unreadable",
            f"the file cannot be read past here ({type(unreadable).__name__}: {unreadable}); a CSV must be "
            "saved as UTF-8, a workbook as .xlsx",
        )
        summary.resume_from = batch_first_line if rows_in_batch else line
    refresh_statistics(0.1)
    summary.events = summary.position - start_position
    summary.seconds = time.perf_counter() - started
    return summary
