"""A small, realistic province for a new user to explore: `dangvien demo`.

Kon Tum before and after the 2025 reorganisation: four district committees with their commune
committees, schools and hamlet cells; six years of admissions, confirmations, transfers (official
and temporary), removals of every kind and a restoration; yearly and term plans; and on 1 July
2025 the districts dissolved, their grassroots organizations moved under new commune committees,
and two hamlet cells merged. Everything goes through the ledger's commands and the Charter's rules,
in the order of the effective dates, and is the same on every run (a fixed seed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from uuid import UUID

from domain.errors import DomainError
from domain.ledger import Ledger
from domain.values import (
    Decision,
    Education,
    Kind,
    Occupation,
    PersonProfile,
    PoliticalTheory,
    ProfessionalLevel,
    RemovalReason,
    Sex,
    TransferKind,
    TransferPurpose,
    add_months,
    organization_id,
)

ROOT = "KT"
RECORDED_BY = "demo"
SEED = 1930

# District committees (huyện ủy, thành ủy) and what sat under them until 1 July 2025:
# (code, name, [(grassroots code, name, kind, [cells under a grassroots committee])]).
DISTRICTS = [
    ("KT.TP", "Đảng bộ thành phố Kon Tum", [
        ("KT.TP.QUYETTHANG", "Đảng bộ phường Quyết Thắng", Kind.GRASSROOTS_COMMITTEE,
         ["Chi bộ tổ dân phố 1", "Chi bộ tổ dân phố 2", "Chi bộ tổ dân phố 3"]),
        ("KT.TP.THPTKT", "Chi bộ Trường THPT chuyên Nguyễn Tất Thành", Kind.GRASSROOTS_CELL, []),
        ("KT.TP.BVDK", "Đảng bộ Bệnh viện Đa khoa tỉnh", Kind.GRASSROOTS_COMMITTEE,
         ["Chi bộ Khoa Nội", "Chi bộ Khoa Ngoại"]),
    ]),
    ("KT.DAKHA", "Đảng bộ huyện Đắk Hà", [
        ("KT.DAKHA.DAKMAR", "Đảng bộ xã Đắk Mar", Kind.GRASSROOTS_COMMITTEE,
         ["Chi bộ thôn 1", "Chi bộ thôn 2", "Chi bộ thôn Kon Stiu"]),
        ("KT.DAKHA.THCS", "Chi bộ Trường THCS Đắk Hà", Kind.GRASSROOTS_CELL, []),
    ]),
    ("KT.SATHAY", "Đảng bộ huyện Sa Thầy", [
        ("KT.SATHAY.SABINH", "Đảng bộ xã Sa Bình", Kind.GRASSROOTS_COMMITTEE,
         ["Chi bộ thôn Bình Loong", "Chi bộ làng Kà Bầy"]),
        ("KT.SATHAY.YTE", "Chi bộ Trung tâm Y tế huyện", Kind.GRASSROOTS_CELL, []),
    ]),
    ("KT.IAHDRAI", "Đảng bộ huyện Ia H'Drai", [
        ("KT.IAHDRAI.IADAL", "Đảng bộ xã Ia Dal", Kind.GRASSROOTS_COMMITTEE,
         ["Chi bộ thôn 1", "Chi bộ thôn 2"]),
        ("KT.IAHDRAI.DON", "Chi bộ Đồn Biên phòng Ia Dal", Kind.GRASSROOTS_CELL, []),
    ]),
]

# Since 1 July 2025: commune and ward committees directly under the province take the
# grassroots organizations of the dissolved districts.
COMMUNES = [
    ("KT.PHUONG.KONTUM", "Đảng bộ phường Kon Tum", ["KT.TP.QUYETTHANG", "KT.TP.THPTKT", "KT.TP.BVDK"]),
    ("KT.XA.DAKHA", "Đảng bộ xã Đắk Hà", ["KT.DAKHA.DAKMAR", "KT.DAKHA.THCS"]),
    ("KT.XA.SATHAY", "Đảng bộ xã Sa Thầy", ["KT.SATHAY.SABINH", "KT.SATHAY.YTE"]),
    ("KT.XA.IAHDRAI", "Đảng bộ xã Ia H'Drai", ["KT.IAHDRAI.IADAL", "KT.IAHDRAI.DON"]),
]
RESTRUCTURED_ON = date(2025, 7, 1)

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ", "Đặng", "Bùi", "Y", "A", "Rơ Châm", "Siu"]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu", "Hữu", "Ngọc", "Quang"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hương", "Lan", "Nam", "Phương", "Thảo", "Tuấn", "Blong", "H'Lim"]
ETHNICITIES = ["Kinh"] * 6 + ["Xơ Đăng", "Ba Na", "Gia Rai", "Giẻ Triêng"]
RELIGIONS = [None] * 7 + ["Công giáo", "Phật giáo", "Tin Lành"]
PLANS = {"2019": 40, "2020": 42, "2021": 44, "2022": 45, "2023": 46, "2024": 48, "2025": 50, "2020-2025": 260}


@dataclass
class Demo:
    """What the demo recorded, for the summary it prints."""

    organizations: int = 0
    events: int = 0
    position: int = 0
    refused: list[str] = field(default_factory=list)


def _decision(rng: random.Random, on: date, issuer: str) -> Decision:
    return Decision(f"{rng.randint(10, 999)}-QĐ/{issuer.split('.')[-1]}", on, issuer)


def _person(rng: random.Random, serial: int, admitted_on: date) -> PersonProfile:
    age = rng.choice([19, 21, 23, 24, 26, 28, 29, 31, 34, 38, 42, 47, 52])
    birth = add_months(admitted_on, -12 * age - rng.randint(0, 11))
    ethnicity = rng.choice(ETHNICITIES)
    return PersonProfile(
        national_id=f"062{serial:09d}",
        full_name=" ".join((rng.choice(FAMILY), rng.choice(MIDDLE), rng.choice(GIVEN))),
        birth_date=birth,
        sex=rng.choice([Sex.MALE, Sex.FEMALE]),
        ethnicity=ethnicity,
        religion=rng.choice(RELIGIONS),
        youth_union_member=age <= 30,
        education=rng.choice([Education.UPPER_SECONDARY] * 4 + [Education.LOWER_SECONDARY]),
        professional_level=rng.choice(list(ProfessionalLevel)),
        political_theory=rng.choice([PoliticalTheory.NONE, PoliticalTheory.ELEMENTARY]),
        occupation=rng.choice(list(Occupation)),
    )


def load_demo(ledger: Ledger, progress: Callable[[str], None] = lambda _: None) -> Demo:
    """Record the demo province, unless it is already there."""
    demo = Demo()
    if organization_id(ROOT) in ledger.repository:
        progress("the demo province is already loaded")
        return demo
    rng = random.Random(SEED)
    founded = date(2015, 1, 1)

    def record(position: int) -> None:
        demo.events += 1
        demo.position = position

    def found(code: str, name: str, kind: Kind, parent: str | None, on: date = founded) -> None:
        record(ledger.found_organization(code, name, kind, parent, on, _decision(rng, on, parent or ROOT), RECORDED_BY).position)
        demo.organizations += 1

    progress("founding the tree")
    found(ROOT, "Đảng bộ tỉnh Kon Tum", Kind.PROVINCIAL, None)
    cells: list[str] = []
    for district, name, grassroots in DISTRICTS:
        found(district, name, Kind.UPPER_GRASSROOTS, ROOT)
        for code, gname, kind, subcells in grassroots:
            found(code, gname, kind, district)
            if kind is Kind.GRASSROOTS_CELL:
                cells.append(code)
            for i, cell_name in enumerate(subcells, start=1):
                found(f"{code}.CB{i}", cell_name, Kind.CELL, code)
                cells.append(f"{code}.CB{i}")
    for period, admissions in PLANS.items():
        record(ledger.set_plan(ROOT, period, admissions, RECORDED_BY).position)
        for district, _, _ in DISTRICTS:
            record(ledger.set_plan(district, period, max(1, admissions // 4), RECORDED_BY).position)

    # Each day's commands, in order of effective date; the Charter may refuse some (as in life).
    agenda: dict[date, list[Callable[[], None]]] = {}
    members: dict[UUID, str] = {}
    expelled: dict[UUID, str] = {}

    def plan(on: date, step: Callable[[], None]) -> None:
        agenda.setdefault(on, []).append(step)

    def admit(cell: str, on: date, serial: int) -> None:
        def step() -> None:
            profile = _person(rng, serial, on)
            issuer = cell.rsplit(".", 1)[0]
            result = ledger.admit(cell, profile, on, _decision(rng, on - timedelta(days=20), issuer), RECORDED_BY)
            record(result.position)
            members[result.member_id] = cell
            confirm_on = result.probation_ends_on + timedelta(days=rng.randint(5, 40))
            if rng.random() < 0.93:
                plan(confirm_on, lambda: confirm(result.member_id, confirm_on))
            else:
                plan(confirm_on, lambda: remove(result.member_id, RemovalReason.DELISTED, confirm_on))
        plan(on, step)

    def confirm(member_id: UUID, on: date) -> None:
        cell = members.get(member_id)
        if cell is None:  # left the Party before the committee met
            return
        record(ledger.confirm_membership(cell, member_id, on, _decision(rng, on, cell.rsplit(".", 1)[0]), RECORDED_BY).position)

    def remove(member_id: UUID, reason: RemovalReason, on: date) -> None:
        cell = members.get(member_id)
        if cell is None:
            return
        record(ledger.remove_member(cell, member_id, reason, on, _decision(rng, on, cell.rsplit(".", 1)[0]), RECORDED_BY).position)
        members.pop(member_id)
        if reason is RemovalReason.EXPELLED:
            expelled[member_id] = cell

    def transfer(kind: TransferKind, on: date) -> None:
        if not members:
            return
        member_id = rng.choice(list(members))
        cell = members[member_id]
        to = rng.choice([c for c in cells if c != cell])
        until = add_months(on, 9) if kind is TransferKind.TEMPORARY else None
        issued = ledger.issue_transfer(
            cell, member_id, to, kind, on, until, _decision(rng, on, cell.rsplit(".", 1)[0]), RECORDED_BY,
            purpose=TransferPurpose.STUDY if kind is TransferKind.TEMPORARY else TransferPurpose.WORK,
        )
        record(issued.position)
        arrival = on + timedelta(days=rng.randint(3, 25))

        def receive() -> None:
            record(ledger.receive_transfer(to, issued.transfer_id, arrival, RECORDED_BY).position)
            if kind is TransferKind.OFFICIAL:
                members[member_id] = to
            else:
                plan(until, lambda: record(ledger.end_temporary_transfer(to, issued.transfer_id, until, RECORDED_BY).position))
        plan(arrival, receive)

    serial = 0
    for year in range(2019, 2026):
        for _ in range(rng.randint(38, 52)):
            serial += 1
            admit(rng.choice(cells), date(year, rng.randint(1, 12), rng.randint(1, 28)), serial)
        for month in (3, 6, 9, 11):
            on = date(year, month, rng.randint(1, 28))
            plan(on, lambda on=on: transfer(TransferKind.OFFICIAL, on))
        on = date(year, 8, 15)
        plan(on, lambda on=on: transfer(TransferKind.TEMPORARY, on))
        for reason, month in ((RemovalReason.DECEASED, 4), (RemovalReason.VOLUNTARY_EXIT, 10), (RemovalReason.EXPELLED, 12)):
            on = date(year, month, rng.randint(1, 28))
            plan(on, lambda reason=reason, on=on: members and remove(rng.choice(list(members)), reason, on))
    restored_on = date(2024, 5, 20)
    plan(restored_on, lambda: restore(restored_on))

    def restore(on: date) -> None:
        """An expulsion found wrongful on appeal: membership restored, party age kept."""
        if not expelled:
            return
        member_id, cell = next(iter(expelled.items()))
        person = ledger.organization(cell).former[str(member_id)].file.person
        result = ledger.restore_member(cell, person.national_id, on, _decision(rng, on, ROOT), RECORDED_BY)
        record(result.position)
        members[member_id] = expelled.pop(member_id)

    def restructure() -> None:
        progress("restructuring on 1 July 2025")
        on = RESTRUCTURED_ON
        for code, name, grassroots in COMMUNES:
            found(code, name, Kind.UPPER_GRASSROOTS, ROOT, on)
            for moved in grassroots:
                record(ledger.reparent_organization(moved, code, on, _decision(rng, on, ROOT), RECORDED_BY).position)
        for district, _, _ in DISTRICTS:
            record(ledger.dissolve_organization(district, on, _decision(rng, on, ROOT), RECORDED_BY).position)
        record(ledger.merge_organization(
            "KT.DAKHA.DAKMAR.CB2", "KT.DAKHA.DAKMAR.CB1", on, _decision(rng, on, "KT.XA.DAKHA"), RECORDED_BY
        ).position)
        cells.remove("KT.DAKHA.DAKMAR.CB2")
        for member_id, cell in list(members.items()):
            if cell == "KT.DAKHA.DAKMAR.CB2":
                members[member_id] = "KT.DAKHA.DAKMAR.CB1"
        for period, admissions in (("2025", 50), ("2026", 52)):
            for code, _, _ in COMMUNES:
                record(ledger.set_plan(code, period, admissions // 4, RECORDED_BY).position)

    plan(RESTRUCTURED_ON, restructure)
    progress("recording six years of history")
    today = ledger.today()
    while agenda:
        on = min(agenda)
        if on > today:
            break
        for step in agenda.pop(on):
            try:
                step()
            except DomainError as refusal:
                demo.refused.append(f"{on}: {refusal.code}")
    return demo


