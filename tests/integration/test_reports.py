"""Form 1 and Form 2 figures in the situations commissions meet, on both stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from domain.ledger import Ledger
from domain.values import Kind, RemovalReason, Sex, TransferKind
from projections import ReadModels
from tests.builders import CLERK, admit, decision, found
from tests.ledger_env import ledger_env

YEAR_2025 = (date(2025, 1, 1), date(2025, 12, 31))
RESTRUCTURED = date(2025, 7, 1)


@dataclass
class Province:
    ledger: Ledger
    read_models: ReadModels
    province: str
    district_1: str
    district_2: str
    committee: str
    cell_1: str
    cell_2: str
    school: str

    def report(self, code: str, period: tuple[date, date] = YEAR_2025) -> dict:
        self.read_models.catch_up()
        return self.read_models.report(code, *period)


@pytest.fixture
def province(database_url: str) -> Province:
    """A province with two districts; a commune committee with two hamlet cells, and a school."""
    ledger = Ledger(ledger_env(database_url))
    p = found(ledger, "KT", "Đảng bộ tỉnh Kon Tum", Kind.PROVINCIAL, None)
    d1 = found(ledger, "KT.DAKHA", "Đảng bộ huyện Đắk Hà", Kind.UPPER_GRASSROOTS, p)
    d2 = found(ledger, "KT.XA", "Đảng bộ xã Đắk Hà", Kind.UPPER_GRASSROOTS, p)
    g = found(ledger, "KT.DAKHA.DAKMAR", "Đảng bộ xã Đắk Mar", Kind.GRASSROOTS_COMMITTEE, d1)
    c1 = found(ledger, "KT.DAKHA.DAKMAR.T1", "Chi bộ thôn 1", Kind.CELL, g)
    c2 = found(ledger, "KT.DAKHA.DAKMAR.T2", "Chi bộ thôn 2", Kind.CELL, g)
    school = found(ledger, "KT.DAKHA.THCS", "Chi bộ Trường THCS", Kind.GRASSROOTS_CELL, d1)
    return Province(ledger, ReadModels(database_url, ledger), p, d1, d2, g, c1, c2, school)


def balance(row: dict) -> int:
    decreases = sum(v for k, v in row["decreases"].items() if k != "delisted_probationary")
    return row["opening"] + sum(row["increases"].values()) - decreases


def test_a_cell_merged_on_the_day_its_committee_moves_is_counted_once(province: Province) -> None:
    """The committee's move carries both cells' members; the same-day merger is internal to it."""
    for cell, n in ((province.cell_1, 3), (province.cell_2, 2)):
        for _ in range(n):
            admit(province.ledger, cell, date(2023, 3, 1))
    province.ledger.reparent_organization(province.committee, province.district_2, RESTRUCTURED, decision(), CLERK)
    province.ledger.merge_organization(province.cell_2, province.cell_1, RESTRUCTURED, decision(), CLERK)

    old = province.report(province.district_1)
    new = province.report(province.district_2)
    assert (old["opening"], old["decreases"]["transferred_out"], old["closing"]) == (5, 5, 0)
    assert (new["opening"], new["increases"]["transferred_in"], new["closing"]) == (0, 5, 5)
    assert new["organizations"] == {"grassroots_committees": 1, "grassroots_cells": 0, "cells_under_committees": 1}
    assert old["organizations"] == {"grassroots_committees": 0, "grassroots_cells": 1, "cells_under_committees": 0}
    whole = province.report(province.province)
    assert whole["increases"]["transferred_in"] == whole["decreases"]["transferred_out"] == 0
    assert whole["closing"] == 5


def test_an_admission_recorded_after_a_restructuring_it_predates_counts_where_the_cell_was_then(
    province: Province,
) -> None:
    """Recorded late, an admission of May 2025 counts for the old district, and moves with the cell."""
    province.ledger.reparent_organization(province.committee, province.district_2, RESTRUCTURED, decision(), CLERK)
    admit(province.ledger, province.cell_1, date(2025, 5, 10))
    old = province.report(province.district_1)
    new = province.report(province.district_2)
    assert (old["admitted"], old["decreases"]["transferred_out"], old["closing"]) == (1, 1, 0)
    assert (new["admitted"], new["increases"]["transferred_in"], new["closing"]) == (0, 1, 1)


def test_a_restructuring_recorded_late_moves_the_figures_recorded_before_it(province: Province) -> None:
    """Admissions of August recorded before the July reorganisation end up under the new district."""
    admit(province.ledger, province.cell_1, date(2025, 8, 10))
    assert province.report(province.district_1)["admitted"] == 1
    province.ledger.reparent_organization(province.committee, province.district_2, RESTRUCTURED, decision(), CLERK)
    old = province.report(province.district_1)
    new = province.report(province.district_2)
    assert (old["admitted"], old["closing"]) == (0, 0)
    assert (new["admitted"], new["closing"]) == (1, 1)
    assert balance(old) == old["closing"] and balance(new) == new["closing"]


def test_a_transfer_between_two_cells_of_the_subtree_is_neither_an_increase_nor_a_decrease(
    province: Province,
) -> None:
    """Within the district the transfer is internal; the cells themselves count it in and out."""
    admission, _ = admit(province.ledger, province.cell_1, date(2023, 3, 1))
    issued = province.ledger.issue_transfer(
        province.cell_1, admission.member_id, province.school, TransferKind.OFFICIAL, date(2025, 2, 1), None,
        decision(date(2025, 2, 1)), CLERK,
    )
    province.ledger.receive_transfer(province.school, issued.transfer_id, date(2025, 2, 20), CLERK)
    district = province.report(province.district_1)
    assert district["increases"]["transferred_in"] == district["decreases"]["transferred_out"] == 0
    cells = {row["organization"]: row for row in district["children"]}
    assert cells[province.committee]["decreases"]["transferred_out"] == 1
    assert cells[province.school]["increases"]["transferred_in"] == 1


def test_new_members_are_broken_down_as_form_2_asks(province: Province) -> None:
    """Women, ethnic minorities, religion, Youth Union and age bands of the year's admissions."""
    admit(province.ledger, province.cell_1, date(2025, 4, 1), sex=Sex.FEMALE, ethnicity="Xơ Đăng",
          birth_date=date(2000, 1, 1), youth_union_member=True)
    admit(province.ledger, province.cell_1, date(2025, 4, 1), sex=Sex.MALE, ethnicity="Kinh",
          religion="Công giáo", birth_date=date(1990, 1, 1), youth_union_member=False)
    admit(province.ledger, province.cell_1, date(2024, 4, 1), sex=Sex.FEMALE)
    new = province.report(province.province)["new_members"]
    assert (new["total"], new["women"], new["ethnic_minority"], new["religious"], new["youth_union"]) == (2, 1, 1, 1, 1)
    assert new["age_bands"]["18-30"] == 1 and new["age_bands"]["31-35"] == 1


def test_the_plan_of_the_year_or_of_the_term_gives_the_achievement(province: Province) -> None:
    """212 admitted against a plan of 200 is 106%; a term report uses the term's plan."""
    province.ledger.set_plan(province.province, "2025", 2, CLERK)
    province.ledger.set_plan(province.province, "2020-2025", 10, CLERK)
    for _ in range(3):
        admit(province.ledger, province.school, date(2025, 6, 1))
    year = province.report(province.province)
    assert year["plan"] == {"period": "2025", "admissions": 2} and year["achievement_pct"] == 150.0
    term = province.report(province.province, (date(2020, 1, 1), date(2025, 12, 31)))
    assert term["plan"] == {"period": "2020-2025", "admissions": 10} and term["achievement_pct"] == 30.0


def test_a_probationary_member_delisted_counts_among_delisted_and_apart(province: Province) -> None:
    """Delisted probationary members are shown apart and not subtracted twice."""
    admission, _ = admit(province.ledger, province.school, date(2024, 9, 1))
    province.ledger.remove_member(province.school, admission.member_id, RemovalReason.DELISTED,
                                  date(2025, 9, 15), decision(date(2025, 9, 15)), CLERK)
    row = province.report(province.school)
    assert row["decreases"]["delisted"] == row["decreases"]["delisted_probationary"] == 1
    assert (row["opening"], row["closing"]) == (1, 0)
    assert balance(row) == row["closing"]
