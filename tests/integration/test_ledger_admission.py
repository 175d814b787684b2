"""Admission (kết nạp) through the ledger: age, education, the cell, one membership per person,
and the decision before the ceremony, on SQLite and PostgreSQL."""

from datetime import date

import pytest

from domain import errors
from domain.ledger import Ledger
from domain.organization import Organization
from domain.values import Education, MemberStatus, organization_id
from tests.builders import (
    ADMITTED_ON,
    CLERK,
    DECIDED_ON,
    Tree,
    admit,
    born_months_before,
    code,
    decision,
    person,
    refused,
    stream,
)


def test_an_admitted_person_is_on_the_roster_on_probation(ledger: Ledger, tree: Tree) -> None:
    """The new member is probationary for 12 months from the ceremony, on the cell's roster."""
    admission, candidate = admit(ledger, tree.cell_a)
    assert (admission.status, admission.probation_ends_on) == (MemberStatus.PROBATIONARY, date(2022, 3, 15))
    file = ledger.organization(tree.cell_a).members[str(admission.member_id)]
    assert (file.person, file.joined_on, file.admitted_on, file.official_since) == (
        candidate, ADMITTED_ON, ADMITTED_ON, None
    )


def test_an_admitted_person_is_registered_as_a_member_of_the_cell(ledger: Ledger, tree: Tree) -> None:
    """The registry names the cell that holds the person, under the same member id."""
    admission, candidate = admit(ledger, tree.cell_c)
    registered = ledger.person(candidate.national_id)
    assert registered is not None
    assert (registered.organization, registered.member_id) == (tree.cell_c, admission.member_id)


def test_an_admission_reports_the_position_of_its_last_event(ledger: Ledger, tree: Tree) -> None:
    """The position returned is the newest notification in the log."""
    admission, _ = admit(ledger, tree.cell_a)
    assert admission.position == ledger.recorder.max_notification_id()


def test_a_person_of_17_years_and_11_months_is_refused_as_too_young(ledger: Ledger, tree: Tree) -> None:
    """Age is counted in months on the day of the ceremony: one month short of 18 is refused."""
    with refused(ledger, errors.TooYoung, "too-young"):
        admit(ledger, tree.cell_a, birth_date=born_months_before(ADMITTED_ON, 18 * 12 - 1))


def test_a_person_of_exactly_18_years_is_admitted(ledger: Ledger, tree: Tree) -> None:
    """On the 18th birthday the person may be admitted."""
    admission, _ = admit(ledger, tree.cell_a, birth_date=born_months_before(ADMITTED_ON, 18 * 12))
    assert str(admission.member_id) in ledger.organization(tree.cell_a).members


def test_a_person_over_60_is_refused_on_a_commune_decision(ledger: Ledger, tree: Tree) -> None:
    """Sixty years and one month needs a provincial-level decision: the commune's is refused."""
    candidate = person(birth_date=born_months_before(ADMITTED_ON, 60 * 12 + 1))
    with refused(ledger, errors.TooOld, "too-old"):
        ledger.admit(tree.cell_a, candidate, ADMITTED_ON, decision(issued_by=tree.commune), CLERK)


def test_a_person_over_60_is_refused_on_a_decision_of_an_unknown_issuer(ledger: Ledger, tree: Tree) -> None:
    """An issuer the ledger does not know is not taken for a provincial committee."""
    candidate = person(birth_date=born_months_before(ADMITTED_ON, 64 * 12))
    with refused(ledger, errors.TooOld, "too-old"):
        ledger.admit(tree.cell_a, candidate, ADMITTED_ON, decision(issued_by=code("TU")), CLERK)


def test_a_person_over_60_is_admitted_on_a_provincial_decision(ledger: Ledger, tree: Tree) -> None:
    """A decision issued by the provincial organization admits a person over 60."""
    candidate = person(birth_date=born_months_before(ADMITTED_ON, 64 * 12))
    admission = ledger.admit(tree.cell_a, candidate, ADMITTED_ON, decision(issued_by=tree.province), CLERK)
    assert str(admission.member_id) in ledger.organization(tree.cell_a).members


def test_primary_education_is_refused_outside_a_hard_area(ledger: Ledger, tree: Tree) -> None:
    """Lower-secondary education is required in ordinary areas."""
    with refused(ledger, errors.EducationTooLow, "education-too-low"):
        admit(ledger, tree.cell_a, education=Education.PRIMARY)


def test_primary_education_is_admitted_in_a_hard_area_and_the_event_says_so(ledger: Ledger, tree: Tree) -> None:
    """In a designated hard area primary education is enough, and the admission records hard_area."""
    candidate = person(education=Education.PRIMARY, ethnicity="H'Mông")
    ledger.admit(tree.cell_a, candidate, ADMITTED_ON, decision(), CLERK, hard_area=True)
    admitted = stream(ledger, tree.cell_a)[-1]
    assert isinstance(admitted, Organization.MemberAdmitted) and admitted.hard_area is True


@pytest.mark.parametrize("level", ["province", "commune", "committee"])
def test_an_organization_that_is_not_a_cell_refuses_members(ledger: Ledger, tree: Tree, level: str) -> None:
    """Only cells keep a roster: admitting to a committee is refused."""
    with refused(ledger, errors.HoldsNoMembers, "organization-holds-no-members"):
        admit(ledger, getattr(tree, level))


def test_admission_to_an_unknown_cell_is_refused_as_not_found(ledger: Ledger, tree: Tree) -> None:
    """The cell must exist in the ledger."""
    with refused(ledger, errors.OrganizationNotFound, "organization-not-found"):
        admit(ledger, code("HN.BADINH.KDC9"))


def test_admission_before_the_cell_was_founded_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A cell cannot admit anyone before it existed."""
    with refused(ledger, errors.NotBeforeFounding, "date-before-founding"):
        admit(ledger, tree.cell_a, on=date(2014, 11, 20))


def test_a_member_of_another_cell_is_refused_as_already_a_member(ledger: Ledger, tree: Tree) -> None:
    """A person is an active member of one cell at a time, anywhere in the tree."""
    _, candidate = admit(ledger, tree.cell_a)
    with refused(ledger, errors.AlreadyAMember, "already-a-member"):
        ledger.admit(tree.cell_c, candidate, date(2022, 5, 1), decision(date(2022, 5, 1)), CLERK)


def test_a_member_admitted_again_to_the_same_cell_is_refused_as_already_a_member(ledger: Ledger, tree: Tree) -> None:
    """Admitting an active member twice is refused even in the same cell."""
    _, candidate = admit(ledger, tree.cell_a)
    with refused(ledger, errors.AlreadyAMember, "already-a-member"):
        ledger.admit(tree.cell_a, candidate, date(2022, 5, 1), decision(date(2022, 5, 1)), CLERK)


def test_a_ceremony_before_the_decision_is_refused(ledger: Ledger, tree: Tree) -> None:
    """The ceremony follows the decision: a ceremony the day before it is refused."""
    with refused(ledger, errors.DecisionAfterEvent, "decision-after-effective-date"):
        ledger.admit(tree.cell_a, person(), date(2021, 2, 28), decision(DECIDED_ON), CLERK)


def test_a_refused_admission_leaves_the_person_unregistered(ledger: Ledger, tree: Tree) -> None:
    """A person refused at admission has no registry entry, and can be admitted later."""
    candidate = person(education=Education.PRIMARY)
    with refused(ledger, errors.EducationTooLow, "education-too-low"):
        ledger.admit(tree.cell_a, candidate, ADMITTED_ON, decision(), CLERK)
    assert ledger.person(candidate.national_id) is None
    ledger.admit(tree.cell_a, candidate, ADMITTED_ON, decision(), CLERK, hard_area=True)


def test_the_admission_event_carries_its_date_decision_and_recorder(ledger: Ledger, tree: Tree) -> None:
    """MemberAdmitted says when the ceremony was, on which decision, and who recorded it."""
    ruling = decision(DECIDED_ON, issued_by=tree.commune)
    admission = ledger.admit(tree.cell_a, person(), ADMITTED_ON, ruling, CLERK)
    (event,) = ledger.events.get(organization_id(tree.cell_a), gt=1)
    assert isinstance(event, Organization.MemberAdmitted)
    assert (event.member_id, event.effective_on, event.decision, event.recorded_by) == (
        admission.member_id, ADMITTED_ON, ruling, CLERK
    )
