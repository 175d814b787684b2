"""Value objects: calendar arithmetic in months, plan periods, decisions and the person profile."""

from dataclasses import replace
from datetime import date

import pytest

from domain.errors import InvalidValue
from domain.values import (
    Decision,
    Kind,
    MemberFile,
    MemberStatus,
    Period,
    Transfer,
    TransferKind,
    add_months,
    age_in_years,
    check_code,
    months_between,
    organization_id,
    person_id,
)
from tests.builders import code, national_id, person


def test_add_months_keeps_the_day_of_the_month() -> None:
    """Adding months lands on the same day of the later month."""
    assert add_months(date(2021, 3, 15), 12) == date(2022, 3, 15)


def test_add_months_crosses_the_year_end() -> None:
    """Adding months past December carries into the next year."""
    assert add_months(date(2021, 11, 30), 3) == date(2022, 2, 28)


def test_twelve_months_after_29_february_is_28_february() -> None:
    """A probation begun on 29 February of a leap year ends on 28 February of the next year."""
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_forty_eight_months_after_29_february_is_29_february() -> None:
    """Four years after 29 February is again 29 February."""
    assert add_months(date(2020, 2, 29), 48) == date(2024, 2, 29)


def test_add_months_clamps_the_31st_to_the_end_of_a_short_month() -> None:
    """31 January plus one month is the last day of February."""
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)


def test_subtracting_months_goes_back_across_the_year() -> None:
    """A negative number of months goes back in time."""
    assert add_months(date(2021, 2, 10), -3) == date(2020, 11, 10)


def test_months_between_counts_only_whole_months() -> None:
    """One day short of a full month does not count as a month."""
    assert months_between(date(2003, 4, 10), date(2021, 4, 9)) == 18 * 12 - 1


def test_months_between_counts_the_month_on_its_anniversary_day() -> None:
    """On the same day of the month, the month is complete."""
    assert months_between(date(2003, 4, 10), date(2021, 4, 10)) == 18 * 12


def test_months_between_the_same_day_is_zero() -> None:
    """No time has passed between a date and itself."""
    assert months_between(date(2021, 4, 10), date(2021, 4, 10)) == 0


def test_someone_born_on_29_february_completes_their_years_on_28_february() -> None:
    """In a common year, a birthday on 29 February is reached on 28 February."""
    assert months_between(date(2004, 2, 29), date(2022, 2, 28)) == 18 * 12


def test_the_end_of_a_long_month_to_the_end_of_a_short_one_is_a_whole_month() -> None:
    """From 31 January to 28 February is one month, as add_months counts it."""
    assert months_between(date(2023, 1, 31), date(2023, 2, 28)) == 1


def test_age_in_years_is_the_completed_years() -> None:
    """The day before the 18th birthday the person is still 17."""
    assert age_in_years(date(2003, 4, 10), date(2021, 4, 9)) == 17


def test_a_year_parses_as_a_one_year_period() -> None:
    """`2022` is the plan period of the calendar year 2022."""
    assert Period.parse("2022") == Period(2022, 2022)


def test_a_congress_term_parses_as_a_period_of_several_years() -> None:
    """`2020-2025` is the plan period of a congress term."""
    assert Period.parse("2020-2025") == Period(2020, 2025)


@pytest.mark.parametrize("text", ["2022", "2020-2025"])
def test_a_period_prints_as_it_was_written(text: str) -> None:
    """A parsed period turns back into the same text."""
    assert str(Period.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    ["", "22", "năm 2022", "2025-2020", "2022-2022", "2020–2025", " 2022", "2020-25", "0000", "1929", "2100",
     "0000-9999", "1925-1931", "2020-2031"],
)
def test_a_malformed_period_is_an_invalid_value_of_the_period_field(text: str) -> None:
    """Anything but a year or an increasing term is refused, naming the field `period`."""
    with pytest.raises(InvalidValue) as refused:
        Period.parse(text)
    assert (refused.value.code, refused.value.field) == ("invalid-value", "period")


def test_the_period_covering_a_report_runs_from_its_first_to_its_last_year() -> None:
    """A report from mid-2020 to mid-2025 is measured against the term 2020-2025."""
    assert Period.covering(date(2020, 7, 1), date(2025, 6, 30)) == Period(2020, 2025)


def test_a_decision_without_a_number_is_an_invalid_value() -> None:
    """A decision always has a number."""
    with pytest.raises(InvalidValue) as refused:
        Decision("  ", date(2021, 3, 1))
    assert refused.value.field == "decision.number"


def test_a_decision_issued_by_a_malformed_code_is_an_invalid_value() -> None:
    """The issuing organization must be written as an organization code."""
    with pytest.raises(InvalidValue) as refused:
        Decision("12-QĐ/TU", date(2021, 3, 1), issued_by="Thành ủy Hà Nội")
    assert refused.value.field == "decision.issued_by"


@pytest.mark.parametrize("good", ["HN", "HN.BADINH.KDC1", "01_079-CB.3", "a" * 64])
def test_organization_codes_of_letters_digits_dots_dashes_and_underscores_are_accepted(good: str) -> None:
    """A well-formed code is returned unchanged."""
    assert check_code(good) == good


@pytest.mark.parametrize("bad", ["", "Ba Đình", ".HN", "HN/BD", "a" * 65, None])
def test_malformed_organization_codes_are_invalid_values(bad: object) -> None:
    """Spaces, diacritics, a leading dot, slashes, more than 64 characters or no text are refused."""
    with pytest.raises(InvalidValue) as refused:
        check_code(bad, "parent")
    assert refused.value.field == "parent"


def test_stream_ids_are_derived_from_codes_and_national_ids() -> None:
    """The same code always names the same stream; organizations and persons never share one."""
    same = code("HN")
    assert organization_id(same) == organization_id(same)
    assert organization_id(same) != person_id(same)


@pytest.mark.parametrize("number", ["001203004567", "123456789"])
def test_a_person_with_a_12_or_9_digit_national_id_is_accepted(number: str) -> None:
    """The citizen ID (CCCD) has 12 digits; the old identity card has 9."""
    assert person(national_id=number).national_id == number


@pytest.mark.parametrize("number", ["", "0012030045", "00120300456a", "0012 0300 4567"])
def test_a_malformed_national_id_is_an_invalid_value(number: str) -> None:
    """A national ID of any other shape is refused."""
    with pytest.raises(InvalidValue) as refused:
        person(national_id=number)
    assert refused.value.field == "person.national_id"


def test_a_person_without_a_name_is_an_invalid_value() -> None:
    """The full name is required."""
    with pytest.raises(InvalidValue) as refused:
        person(full_name=" ")
    assert refused.value.field == "person.full_name"


def test_a_person_without_an_ethnicity_is_an_invalid_value() -> None:
    """The ethnicity is required: Form 2 counts ethnic minorities."""
    with pytest.raises(InvalidValue) as refused:
        person(ethnicity="")
    assert refused.value.field == "person.ethnicity"


@pytest.mark.parametrize("written", ["Kinh", "kinh", " KINH "])
def test_the_kinh_majority_however_written_is_not_an_ethnic_minority(written: str) -> None:
    """Case and spaces do not turn the Kinh majority into a minority."""
    assert not person(ethnicity=written).is_ethnic_minority


@pytest.mark.parametrize("written", ["Tày", "Thái", "Mường", "H'Mông", "Ê Đê", "Khmer"])
def test_every_other_ethnicity_is_an_ethnic_minority(written: str) -> None:
    """Every ethnicity but Kinh counts as an ethnic minority (dân tộc thiểu số)."""
    assert person(ethnicity=written).is_ethnic_minority


@pytest.mark.parametrize("written", [None, "", "Không", "không", "KHÔNG CÓ", "Không tôn giáo"])
def test_no_religion_however_written_is_not_religious(written: str | None) -> None:
    """A missing answer and the usual ways of writing 'none' all mean no religion."""
    assert not person(religion=written).is_religious


@pytest.mark.parametrize("written", ["Phật giáo", "Công giáo", "Tin lành", "Cao Đài", "Hòa Hảo"])
def test_a_stated_religion_is_religious(written: str) -> None:
    """A person who names a religion is counted as religious (tôn giáo)."""
    assert person(religion=written).is_religious


def _file(**overrides: object) -> MemberFile:
    base = MemberFile(
        member_id=person_id(national_id()),
        person=person(),
        joined_on=date(2021, 3, 15),
        admitted_on=date(2021, 3, 15),
        probation_ends_on=date(2022, 3, 15),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_a_member_is_probationary_until_official_since_is_set() -> None:
    """A file without an official date is that of a probationary member."""
    assert _file().status is MemberStatus.PROBATIONARY
    assert _file(official_since=date(2022, 3, 15)).status is MemberStatus.OFFICIAL


def test_a_member_on_an_official_transfer_shows_as_in_transit() -> None:
    """While an official transfer is open, the roster shows the member in transit."""
    transfer = Transfer(person_id(national_id()), TransferKind.OFFICIAL, code("HCM"), date(2023, 1, 5))
    assert _file(transfer=transfer).roster_status is MemberStatus.IN_TRANSIT


def test_a_member_on_a_temporary_transfer_keeps_their_status() -> None:
    """A temporary transfer does not change the status shown on the home roster."""
    transfer = Transfer(
        person_id(national_id()), TransferKind.TEMPORARY, code("HCM"), date(2023, 1, 5), date(2023, 7, 5)
    )
    assert _file(transfer=transfer).roster_status is MemberStatus.PROBATIONARY


def test_touching_a_file_never_moves_its_last_event_back() -> None:
    """The last event date only goes forward."""
    file = _file(last_event_on=date(2022, 5, 1))
    assert file.touched(date(2022, 1, 1)).last_event_on == date(2022, 5, 1)
    assert file.touched(date(2022, 9, 1)).last_event_on == date(2022, 9, 1)


@pytest.mark.parametrize("kind", [Kind.GRASSROOTS_CELL, Kind.CELL])
def test_only_cells_hold_members(kind: Kind) -> None:
    """A grassroots cell and a cell under a committee keep rosters."""
    assert kind.holds_members


@pytest.mark.parametrize("kind", [k for k in Kind if k not in (Kind.GRASSROOTS_CELL, Kind.CELL)])
def test_committees_hold_no_members(kind: Kind) -> None:
    """Every level above the cell keeps no roster of its own."""
    assert not kind.holds_members


def test_the_centre_and_provinces_are_the_provincial_level() -> None:
    """Only the Centre and provincial organizations may decide admissions over 60."""
    assert {k for k in Kind if k.is_provincial_level} == {Kind.CENTRAL, Kind.PROVINCIAL}
