"""Reading import files: which lines are malformed and why, and how roster cells become API values."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from service.importer import FORMAT, Malformed, parse_command, roster_date, roster_header, roster_row
from tests.builders import national_id

ROW = {
    "cell": "HN.BADINH.KDC1",
    "full_name": "Lê Thị Hà",
    "national_id": "001199012345",
    "birth_date": "02/05/1999",
    "sex": "Nữ",
    "ethnicity": "Tày",
    "admitted_on": "19/05/2021",
}


def test_a_blank_line_holds_no_command() -> None:
    """Blank lines are skipped."""
    assert parse_command(3, b"  \n") is None


def test_the_format_header_holds_no_command() -> None:
    """The header that `dangvien generate` writes first is read and skipped."""
    assert parse_command(1, json.dumps({"format": FORMAT, "scale": 0.01})) is None


def test_a_header_of_another_format_is_malformed() -> None:
    """A file of a format this importer does not know is refused at its first line."""
    with pytest.raises(Malformed, match="format"):
        parse_command(1, json.dumps({"format": "dangvien.commands/9"}))


def test_a_line_that_is_not_json_is_malformed_on_its_line() -> None:
    """The error names the line."""
    with pytest.raises(Malformed) as bad:
        parse_command(42, b'{"command": "admit",')
    assert bad.value.line == 42


def test_an_unknown_command_is_malformed_and_named() -> None:
    """The message names the command it does not know."""
    with pytest.raises(Malformed, match="'hire'"):
        parse_command(1, json.dumps({"command": "hire"}))


def test_a_missing_field_is_malformed_and_named() -> None:
    """The message names the field, as the API's 422 would."""
    with pytest.raises(Malformed, match="admitted_on"):
        parse_command(1, json.dumps({"command": "admit", "organization": "HN.X", "person": {}, "decision": {}}))


def test_a_member_is_named_by_national_id_or_member_id_but_not_both() -> None:
    """A member reference with both names is malformed."""
    line = {"command": "remove_member", "organization": "HN.X", "reason": "deceased", "effective_on": "2022-01-01",
            "decision": {"number": "1-QĐ", "issued_on": "2022-01-01"},
            "member": {"national_id": national_id(), "member_id": "7f0e1d3c-5b7a-4c1e-9a57-2b6f0c3d9e11"}}
    with pytest.raises(Malformed, match="member"):
        parse_command(1, json.dumps(line))


def test_a_roster_date_in_day_month_year_order_is_read() -> None:
    """Vietnamese rosters write 19/05/2021 for 19 May 2021."""
    assert roster_date("19/05/2021") == "2021-05-19"


def test_an_excel_date_cell_is_read() -> None:
    """A workbook's date cell arrives as a datetime."""
    assert roster_date(datetime(2021, 5, 19)) == "2021-05-19"


def test_a_roster_header_may_be_in_vietnamese() -> None:
    """`Họ và tên` and `Số CCCD` name the full name and national ID columns."""
    names = roster_header(1, ["Mã chi bộ", "Họ và tên", "Số CCCD", "Ngày sinh", "Giới tính", "Dân tộc", "Ngày vào Đảng"])
    assert names[1:3] == ["full_name", "national_id"]


def test_a_roster_header_without_a_required_column_is_malformed() -> None:
    """A roster must say at least which cell, who, and when admitted."""
    with pytest.raises(Malformed, match="national_id"):
        roster_header(1, ["Mã chi bộ", "Họ và tên", "Ngày sinh", "Giới tính", "Dân tộc", "Ngày vào Đảng"])


def test_a_roster_row_reads_the_sex_as_written_in_vietnamese() -> None:
    """`Nữ` is female."""
    _, _, steps = roster_row(2, ROW)
    assert steps[0][1].person.sex.value == "female"  # type: ignore[attr-defined]


def test_a_national_id_that_lost_its_leading_zero_in_a_spreadsheet_gets_it_back() -> None:
    """Eleven digits are a twelve-digit CCCD whose leading zero a spreadsheet dropped."""
    _, _, steps = roster_row(2, {**ROW, "national_id": 1199012345 + 10_000_000_000})
    assert steps[0][1].person.national_id == "011199012345"  # type: ignore[attr-defined]


def test_a_roster_row_without_an_official_date_is_only_an_admission() -> None:
    """A probationary member's row admits and does not confirm."""
    _, _, steps = roster_row(2, ROW)
    assert [name for name, _ in steps] == ["admit"]


def test_the_confirmation_of_a_roster_row_is_decided_no_earlier_than_the_end_of_probation() -> None:
    """An official date before the twelve months are over is read as the end of probation."""
    _, _, steps = roster_row(2, {**ROW, "official_since": "01/05/2022"})
    # Its dates are checked first, so that a confirmation the ledger would refuse refuses the row.
    assert [name for name, _ in steps] == ["check_roster_dates", "admit", "confirm_membership"]
    assert steps[0][1].decided_on == steps[2][1].decided_on == date(2022, 5, 19)  # type: ignore[attr-defined]


def test_an_official_date_before_the_admission_is_malformed() -> None:
    """A member cannot be official before being admitted."""
    with pytest.raises(Malformed, match="official_since"):
        roster_row(2, {**ROW, "official_since": "01/05/2020"})
