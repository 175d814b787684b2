"""The Charter's rules as pure functions: the tree, admission, probation, readmission, transfers."""

from datetime import date

import pytest

from domain import errors, rules
from domain.values import (
    Decision,
    Education,
    Kind,
    RemovalReason,
    TransferKind,
    TransferPurpose,
    add_months,
)
from tests.builders import born_months_before, person

ON = date(2021, 3, 15)

ALLOWED = [(child, parent) for parent, children in rules.ALLOWED_CHILDREN.items() for child in children]
NOT_ALLOWED = [(child, parent) for parent in Kind for child in Kind if (child, parent) not in ALLOWED]


@pytest.mark.parametrize(("child", "parent"), ALLOWED, ids=lambda k: k.value)
def test_each_allowed_kind_may_sit_under_its_parent(child: Kind, parent: Kind) -> None:
    """The allowed pairs (a province under the Centre, a cell under a committee...) pass."""
    rules.check_kind_allowed_under(child, parent)


@pytest.mark.parametrize(("child", "parent"), NOT_ALLOWED, ids=lambda k: k.value)
def test_every_other_pair_of_kinds_is_refused(child: Kind, parent: Kind) -> None:
    """Any other placement is refused as kind-not-allowed-under-parent."""
    with pytest.raises(errors.KindNotAllowedUnderParent) as refused:
        rules.check_kind_allowed_under(child, parent)
    assert refused.value.code == "kind-not-allowed-under-parent"


def test_a_cell_may_sit_under_a_sub_committee_at_any_depth() -> None:
    """The tree's depth varies: a cell may sit one level deeper, under a sub-committee."""
    rules.check_kind_allowed_under(Kind.SUB_COMMITTEE, Kind.GRASSROOTS_COMMITTEE)
    rules.check_kind_allowed_under(Kind.CELL, Kind.SUB_COMMITTEE)


def test_a_committee_holds_no_members() -> None:
    """Recording a member on a grassroots committee is refused as organization-holds-no-members."""
    with pytest.raises(errors.HoldsNoMembers) as refused:
        rules.check_holds_members(Kind.GRASSROOTS_COMMITTEE, "HN.BADINH.BV")
    assert refused.value.code == "organization-holds-no-members"


def test_probation_ends_twelve_months_after_the_ceremony() -> None:
    """Probation lasts 12 months from the admission ceremony."""
    assert rules.probation_ends_on(date(2021, 3, 15)) == date(2022, 3, 15)


def test_probation_begun_on_29_february_ends_on_28_february() -> None:
    """A ceremony on 29 February 2024 ends probation on 28 February 2025."""
    assert rules.probation_ends_on(date(2024, 2, 29)) == date(2025, 2, 28)


def test_a_person_of_17_years_and_11_months_is_too_young() -> None:
    """Age is counted in months: one month short of 18 is refused as too-young."""
    candidate = person(birth_date=born_months_before(ON, 18 * 12 - 1))
    with pytest.raises(errors.TooYoung) as refused:
        rules.check_admission_age(candidate, ON, decided_at_provincial_level=False)
    assert refused.value.code == "too-young"


def test_a_person_one_day_short_of_18_is_too_young() -> None:
    """The 18th birthday itself must have been reached."""
    candidate = person(birth_date=date(2003, 3, 16))
    with pytest.raises(errors.TooYoung):
        rules.check_admission_age(candidate, ON, decided_at_provincial_level=False)


def test_a_person_of_exactly_18_years_may_be_admitted() -> None:
    """On the 18th birthday the person is old enough."""
    candidate = person(birth_date=born_months_before(ON, 18 * 12))
    rules.check_admission_age(candidate, ON, decided_at_provincial_level=False)


def test_a_person_of_exactly_60_years_may_be_admitted_by_any_competent_committee() -> None:
    """Sixty years and no month more is still within the age range."""
    candidate = person(birth_date=born_months_before(ON, 60 * 12))
    rules.check_admission_age(candidate, ON, decided_at_provincial_level=False)


def test_a_person_over_60_is_too_old_without_a_provincial_decision() -> None:
    """Sixty years and one month needs a provincial-level decision, else too-old."""
    candidate = person(birth_date=born_months_before(ON, 60 * 12 + 1))
    with pytest.raises(errors.TooOld) as refused:
        rules.check_admission_age(candidate, ON, decided_at_provincial_level=False)
    assert refused.value.code == "too-old"


def test_a_person_over_60_may_be_admitted_on_a_provincial_decision() -> None:
    """A provincial-level decision admits a person over 60."""
    candidate = person(birth_date=born_months_before(ON, 67 * 12))
    rules.check_admission_age(candidate, ON, decided_at_provincial_level=True)


def test_a_provincial_decision_does_not_admit_a_person_under_18() -> None:
    """The provincial exception is for age over 60 only."""
    candidate = person(birth_date=born_months_before(ON, 17 * 12))
    with pytest.raises(errors.TooYoung):
        rules.check_admission_age(candidate, ON, decided_at_provincial_level=True)


def test_primary_education_is_too_low_outside_a_hard_area() -> None:
    """Lower-secondary education is required, else education-too-low."""
    with pytest.raises(errors.EducationTooLow) as refused:
        rules.check_admission_education(person(education=Education.PRIMARY), hard_area=False)
    assert refused.value.code == "education-too-low"


def test_primary_education_is_enough_in_a_designated_hard_area() -> None:
    """In a designated hard area the education requirement is waived."""
    rules.check_admission_education(person(education=Education.PRIMARY), hard_area=True)


@pytest.mark.parametrize("education", [Education.LOWER_SECONDARY, Education.UPPER_SECONDARY, None])
def test_lower_secondary_education_or_an_unstated_one_passes(education: Education | None) -> None:
    """Lower or upper secondary passes; an unstated education is not held against the person."""
    rules.check_admission_education(person(education=education), hard_area=False)


def test_a_ceremony_on_the_day_of_the_decision_is_allowed() -> None:
    """The decision may be issued the same day as the ceremony."""
    rules.check_decision_precedes(Decision("7-QĐ/ĐU", ON), ON, "admission ceremony")


def test_a_ceremony_before_the_decision_is_refused() -> None:
    """A ceremony cannot come before its decision: decision-after-effective-date."""
    with pytest.raises(errors.DecisionAfterEvent) as refused:
        rules.check_decision_precedes(Decision("7-QĐ/ĐU", date(2021, 3, 16)), ON, "admission ceremony")
    assert refused.value.code == "decision-after-effective-date"


LEFT_ON = date(2018, 6, 20)


def test_readmission_exactly_36_months_after_leaving_is_allowed() -> None:
    """The day 36 months after leaving is the first day of possible readmission."""
    rules.check_readmission(LEFT_ON, RemovalReason.VOLUNTARY_EXIT, 0, add_months(LEFT_ON, 36))


def test_readmission_a_day_before_36_months_is_too_early() -> None:
    """One day short of 36 months is refused as readmission-too-early."""
    with pytest.raises(errors.ReadmissionTooEarly) as refused:
        rules.check_readmission(LEFT_ON, RemovalReason.DELISTED, 0, date(2021, 6, 19))
    assert refused.value.code == "readmission-too-early"


def test_a_second_readmission_is_refused() -> None:
    """Readmission is allowed once only: readmission-already-used."""
    with pytest.raises(errors.ReadmissionUsed) as refused:
        rules.check_readmission(LEFT_ON, RemovalReason.DELISTED, 1, date(2030, 1, 1))
    assert refused.value.code == "readmission-already-used"


def test_a_deceased_person_is_never_readmitted() -> None:
    """Death is final: person-deceased."""
    with pytest.raises(errors.PersonDeceased) as refused:
        rules.check_readmission(LEFT_ON, RemovalReason.DECEASED, 0, date(2030, 1, 1))
    assert refused.value.code == "person-deceased"


def test_confirmation_on_the_day_probation_ends_is_allowed() -> None:
    """The cell may decide on the very day the 12 months are over."""
    rules.check_probation_ended(date(2022, 3, 15), date(2022, 3, 15))


def test_confirmation_before_probation_ends_is_refused() -> None:
    """A day early is refused as probation-not-ended."""
    with pytest.raises(errors.ProbationNotEnded) as refused:
        rules.check_probation_ended(date(2022, 3, 15), date(2022, 3, 14))
    assert refused.value.code == "probation-not-ended"


ISSUED_ON = date(2023, 1, 10)


def _check_period(kind: TransferKind, until: date | None, purpose: TransferPurpose = TransferPurpose.WORK) -> None:
    rules.check_transfer_period(kind, ISSUED_ON, until, purpose)


def _refused_period(kind: TransferKind, until: date | None, purpose: TransferPurpose = TransferPurpose.WORK) -> None:
    with pytest.raises(errors.InvalidTransferDuration) as refused:
        _check_period(kind, until, purpose)
    assert refused.value.code == "invalid-transfer-duration"


def test_an_official_transfer_has_no_end_date() -> None:
    """An official transfer without `until` passes."""
    _check_period(TransferKind.OFFICIAL, None)


def test_an_official_transfer_with_an_end_date_is_refused() -> None:
    """An official transfer is permanent: an end date is refused."""
    _refused_period(TransferKind.OFFICIAL, date(2023, 6, 10))


def test_a_temporary_transfer_without_an_end_date_is_refused() -> None:
    """A temporary transfer must say until when."""
    _refused_period(TransferKind.TEMPORARY, None)


def test_a_temporary_transfer_of_exactly_three_months_is_allowed() -> None:
    """Three months is the shortest temporary transfer."""
    _check_period(TransferKind.TEMPORARY, date(2023, 4, 10))


def test_a_temporary_transfer_a_day_short_of_three_months_is_refused() -> None:
    """Shorter than three months is refused."""
    _refused_period(TransferKind.TEMPORARY, date(2023, 4, 9))


def test_a_temporary_transfer_ending_before_it_starts_is_refused() -> None:
    """An end before the issue date is refused."""
    _refused_period(TransferKind.TEMPORARY, date(2022, 12, 1))


def test_a_temporary_work_transfer_a_day_short_of_a_year_is_allowed() -> None:
    """For work, 'under one year' allows up to the day before the anniversary."""
    _check_period(TransferKind.TEMPORARY, date(2024, 1, 9))


def test_a_temporary_work_transfer_of_a_full_year_is_refused() -> None:
    """For work, twelve months is already too long."""
    _refused_period(TransferKind.TEMPORARY, date(2024, 1, 10))


def test_a_temporary_transfer_for_study_may_last_two_years() -> None:
    """For study, up to and including 24 months."""
    _check_period(TransferKind.TEMPORARY, date(2025, 1, 10), TransferPurpose.STUDY)


def test_a_temporary_transfer_for_study_over_two_years_is_refused() -> None:
    """For study, a day past 24 months is refused."""
    _refused_period(TransferKind.TEMPORARY, date(2025, 1, 11), TransferPurpose.STUDY)
