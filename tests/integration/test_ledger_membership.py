"""Probation, removal, readmission and restoration through the ledger, on SQLite and PostgreSQL."""

from datetime import date

import pytest

from domain import errors
from domain.ledger import Admission, Ledger
from domain.organization import Organization
from domain.values import MemberStatus, PersonProfile, RemovalReason, add_months
from tests.builders import ADMITTED_ON, CLERK, Tree, admit, decision, person, refused, stream

PROBATION_ENDS_ON = date(2022, 3, 15)
CONFIRMED_ON = date(2022, 4, 20)
LEFT_ON = date(2022, 9, 1)

# --- probation -------------------------------------------------------------------------------------


def test_a_confirmed_member_is_official_from_the_day_probation_ended(ledger: Ledger, tree: Tree) -> None:
    """A decision taken later still makes the member official from the end of probation."""
    admission, _ = admit(ledger, tree.cell_a)
    confirmation = ledger.confirm_membership(
        tree.cell_a, admission.member_id, CONFIRMED_ON, decision(CONFIRMED_ON), CLERK
    )
    assert (confirmation.status, confirmation.official_since) == (MemberStatus.OFFICIAL, PROBATION_ENDS_ON)
    assert ledger.organization(tree.cell_a).members[str(admission.member_id)].official_since == PROBATION_ENDS_ON


def test_the_confirmation_keeps_both_the_effective_date_and_the_decision_date(ledger: Ledger, tree: Tree) -> None:
    """MembershipConfirmed takes effect when probation ended and keeps the decision's own date."""
    admission, _ = admit(ledger, tree.cell_a)
    ruling = decision(CONFIRMED_ON, issued_by=tree.commune)
    ledger.confirm_membership(tree.cell_a, admission.member_id, CONFIRMED_ON, ruling, CLERK)
    confirmed = stream(ledger, tree.cell_a)[-1]
    assert isinstance(confirmed, Organization.MembershipConfirmed)
    assert (confirmed.effective_on, confirmed.decided_on, confirmed.decision, confirmed.recorded_by) == (
        PROBATION_ENDS_ON, CONFIRMED_ON, ruling, CLERK
    )


def test_confirming_an_official_member_is_refused_as_not_probationary(ledger: Ledger, tree: Tree) -> None:
    """Only a probationary member can be confirmed."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.confirm_membership(tree.cell_a, admission.member_id, CONFIRMED_ON, decision(CONFIRMED_ON), CLERK)
    with refused(ledger, errors.NotProbationary, "not-probationary"):
        ledger.confirm_membership(
            tree.cell_a, admission.member_id, date(2022, 5, 2), decision(date(2022, 5, 2)), CLERK
        )


def test_confirming_before_twelve_months_is_refused_as_probation_not_ended(ledger: Ledger, tree: Tree) -> None:
    """A decision a day before probation ends is refused."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.ProbationNotEnded, "probation-not-ended"):
        ledger.confirm_membership(
            tree.cell_a, admission.member_id, date(2022, 3, 14), decision(date(2022, 3, 14)), CLERK
        )


def test_confirming_someone_not_on_the_roster_is_refused_as_member_not_found(ledger: Ledger, tree: Tree) -> None:
    """A cell confirms only its own members."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.MemberNotFound, "member-not-found"):
        ledger.confirm_membership(tree.cell_b, admission.member_id, CONFIRMED_ON, decision(CONFIRMED_ON), CLERK)


def test_a_probation_begun_on_29_february_ends_on_28_february(ledger: Ledger, tree: Tree) -> None:
    """Probation from a ceremony on 29 February 2024 ends on 28 February 2025, when it can be confirmed."""
    admission, _ = admit(ledger, tree.cell_a, on=date(2024, 2, 29))
    assert admission.probation_ends_on == date(2025, 2, 28)
    confirmation = ledger.confirm_membership(
        tree.cell_a, admission.member_id, date(2025, 2, 28), decision(date(2025, 2, 28)), CLERK
    )
    assert confirmation.official_since == date(2025, 2, 28)


def test_delisting_an_unconfirmed_member_records_that_they_were_probationary(ledger: Ledger, tree: Tree) -> None:
    """A probationary member not confirmed is delisted, with was_probationary true."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.remove_member(
        tree.cell_a, admission.member_id, RemovalReason.DELISTED, CONFIRMED_ON, decision(CONFIRMED_ON), CLERK
    )
    removed = stream(ledger, tree.cell_a)[-1]
    assert isinstance(removed, Organization.MemberRemoved)
    assert (removed.reason, removed.was_probationary) == (RemovalReason.DELISTED, True)
    assert ledger.organization(tree.cell_a).former[str(admission.member_id)].removal.was_probationary


def test_removing_an_official_member_records_that_they_were_not_probationary(ledger: Ledger, tree: Tree) -> None:
    """An official member's removal says was_probationary false."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.confirm_membership(tree.cell_a, admission.member_id, CONFIRMED_ON, decision(CONFIRMED_ON), CLERK)
    ledger.remove_member(
        tree.cell_a, admission.member_id, RemovalReason.EXPELLED, LEFT_ON, decision(LEFT_ON), CLERK
    )
    removed = stream(ledger, tree.cell_a)[-1]
    assert isinstance(removed, Organization.MemberRemoved) and removed.was_probationary is False


# --- removal ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(RemovalReason), ids=lambda r: r.value)
def test_a_removed_member_leaves_the_roster_with_the_reason(ledger: Ledger, tree: Tree, reason: RemovalReason) -> None:
    """Expulsion, delisting, voluntary exit and death each take the member off the roster, kept as former."""
    admission, candidate = admit(ledger, tree.cell_a)
    ledger.remove_member(tree.cell_a, admission.member_id, reason, LEFT_ON, decision(LEFT_ON), CLERK)
    cell = ledger.organization(tree.cell_a)
    assert str(admission.member_id) not in cell.members
    removal = cell.former[str(admission.member_id)].removal
    assert (removal.reason, removal.effective_on) == (reason, LEFT_ON)
    registered = ledger.person(candidate.national_id)
    assert registered is not None
    assert (registered.organization, registered.left_reason, registered.left_on) == (None, reason, LEFT_ON)


def test_removing_a_removed_member_is_refused_as_member_removed(ledger: Ledger, tree: Tree) -> None:
    """A member who has left cannot leave again."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.remove_member(tree.cell_a, admission.member_id, RemovalReason.DECEASED, LEFT_ON, decision(LEFT_ON), CLERK)
    with refused(ledger, errors.MemberRemoved, "member-removed"):
        ledger.remove_member(
            tree.cell_a, admission.member_id, RemovalReason.EXPELLED, date(2022, 10, 1),
            decision(date(2022, 10, 1)), CLERK,
        )


def test_a_removal_dated_before_the_members_last_event_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """A member's events take effect in date order: removal cannot predate the confirmation."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.confirm_membership(tree.cell_a, admission.member_id, CONFIRMED_ON, decision(CONFIRMED_ON), CLERK)
    with refused(ledger, errors.OutOfOrder, "effective-date-out-of-order"):
        ledger.remove_member(
            tree.cell_a, admission.member_id, RemovalReason.VOLUNTARY_EXIT, date(2022, 4, 1),
            decision(date(2022, 4, 1)), CLERK,
        )


def test_a_removal_before_the_admission_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """Nobody leaves before joining."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.OutOfOrder, "effective-date-out-of-order"):
        ledger.remove_member(
            tree.cell_a, admission.member_id, RemovalReason.DELISTED, date(2021, 1, 5),
            decision(date(2021, 1, 5)), CLERK,
        )


# --- readmission -----------------------------------------------------------------------------------


def _left(
    ledger: Ledger, cell: str, reason: RemovalReason = RemovalReason.VOLUNTARY_EXIT
) -> tuple[Admission, PersonProfile]:
    """Admit a person to `cell` and let them leave on LEFT_ON; return the admission and the person."""
    admission, candidate = admit(ledger, cell)
    ledger.remove_member(cell, admission.member_id, reason, LEFT_ON, decision(LEFT_ON), CLERK)
    return admission, candidate


READMITTED_ON = add_months(LEFT_ON, 36)


def test_a_readmitted_person_keeps_the_member_id_and_starts_a_new_probation(ledger: Ledger, tree: Tree) -> None:
    """Readmission 36 months after leaving puts the same member id on probation again from the new ceremony."""
    first, candidate = _left(ledger, tree.cell_a)
    again = ledger.admit(tree.cell_b, candidate, READMITTED_ON, decision(READMITTED_ON), CLERK)
    assert again.member_id == first.member_id
    assert (again.status, again.probation_ends_on) == (MemberStatus.PROBATIONARY, add_months(READMITTED_ON, 12))
    file = ledger.organization(tree.cell_b).members[str(again.member_id)]
    assert (file.joined_on, file.admissions) == (READMITTED_ON, 2)


def test_a_readmitted_person_is_registered_with_the_new_cell(ledger: Ledger, tree: Tree) -> None:
    """The registry names the cell of the readmission and counts one readmission."""
    _, candidate = _left(ledger, tree.cell_a)
    ledger.admit(tree.cell_b, candidate, READMITTED_ON, decision(READMITTED_ON), CLERK)
    registered = ledger.person(candidate.national_id)
    assert registered is not None
    assert (registered.organization, registered.readmissions, registered.left_on) == (tree.cell_b, 1, None)


def test_readmission_before_36_months_is_refused_as_too_early(ledger: Ledger, tree: Tree) -> None:
    """A day short of 36 months after leaving is too early."""
    _, candidate = _left(ledger, tree.cell_a)
    early = date(2025, 8, 31)
    with refused(ledger, errors.ReadmissionTooEarly, "readmission-too-early"):
        ledger.admit(tree.cell_b, candidate, early, decision(early), CLERK)


def test_a_second_readmission_is_refused_as_already_used(ledger: Ledger, tree: Tree) -> None:
    """Readmission is allowed once: after leaving again, the person cannot come back."""
    _, candidate = _left(ledger, tree.cell_a)
    again = ledger.admit(tree.cell_b, candidate, READMITTED_ON, decision(READMITTED_ON), CLERK)
    left_again = date(2026, 1, 10)
    ledger.remove_member(tree.cell_b, again.member_id, RemovalReason.DELISTED, left_again, decision(left_again), CLERK)
    much_later = add_months(left_again, 40)
    ledger.today = lambda: much_later  # type: ignore[method-assign]
    with refused(ledger, errors.ReadmissionUsed, "readmission-already-used"):
        ledger.admit(tree.cell_b, candidate, much_later, decision(much_later), CLERK)


def test_a_deceased_person_cannot_be_readmitted(ledger: Ledger, tree: Tree) -> None:
    """Readmitting someone recorded as deceased is refused as person-deceased."""
    _, candidate = _left(ledger, tree.cell_a, RemovalReason.DECEASED)
    with refused(ledger, errors.PersonDeceased, "person-deceased"):
        ledger.admit(tree.cell_b, candidate, READMITTED_ON, decision(READMITTED_ON), CLERK)


# --- restoration -----------------------------------------------------------------------------------

RESTORED_ON = date(2023, 2, 1)


def test_a_restored_member_keeps_the_party_age(ledger: Ledger, tree: Tree) -> None:
    """Restoration after a wrongful removal keeps joined_on and official_since as they were."""
    admission, candidate = admit(ledger, tree.cell_a)
    ledger.confirm_membership(tree.cell_a, admission.member_id, CONFIRMED_ON, decision(CONFIRMED_ON), CLERK)
    ledger.remove_member(tree.cell_a, admission.member_id, RemovalReason.EXPELLED, LEFT_ON, decision(LEFT_ON), CLERK)
    restored = ledger.restore_member(tree.cell_a, candidate.national_id, RESTORED_ON, decision(RESTORED_ON), CLERK)
    file = ledger.organization(tree.cell_a).members[str(restored.member_id)]
    assert (restored.member_id, restored.status) == (admission.member_id, MemberStatus.OFFICIAL)
    assert (file.joined_on, file.official_since) == (ADMITTED_ON, PROBATION_ENDS_ON)


def test_a_member_may_be_restored_to_another_cell(ledger: Ledger, tree: Tree) -> None:
    """Restoration puts the file on the roster named, and the registry follows."""
    admission, candidate = admit(ledger, tree.cell_a)
    ledger.remove_member(tree.cell_a, admission.member_id, RemovalReason.DELISTED, LEFT_ON, decision(LEFT_ON), CLERK)
    ledger.restore_member(tree.cell_c, candidate.national_id, RESTORED_ON, decision(RESTORED_ON), CLERK)
    assert ledger.organization(tree.cell_c).members[str(admission.member_id)].joined_on == ADMITTED_ON
    assert ledger.person(candidate.national_id).organization == tree.cell_c  # type: ignore[union-attr]


def test_restoring_an_active_member_is_refused_as_not_removed(ledger: Ledger, tree: Tree) -> None:
    """Only someone removed from the Party can be restored."""
    _, candidate = admit(ledger, tree.cell_a)
    with refused(ledger, errors.NotRemoved, "not-removed"):
        ledger.restore_member(tree.cell_a, candidate.national_id, RESTORED_ON, decision(RESTORED_ON), CLERK)


def test_restoring_a_deceased_person_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A person recorded as deceased is not restored."""
    _, candidate = _left(ledger, tree.cell_a, RemovalReason.DECEASED)
    with refused(ledger, errors.PersonDeceased, "person-deceased"):
        ledger.restore_member(tree.cell_a, candidate.national_id, RESTORED_ON, decision(RESTORED_ON), CLERK)


def test_restoring_someone_never_admitted_is_refused_as_member_not_found(ledger: Ledger, tree: Tree) -> None:
    """The national ID must belong to someone the ledger has admitted."""
    with refused(ledger, errors.MemberNotFound, "member-not-found"):
        ledger.restore_member(tree.cell_a, person().national_id, RESTORED_ON, decision(RESTORED_ON), CLERK)


def test_a_restoration_dated_before_the_removal_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """Membership cannot be restored before it was lost."""
    _, candidate = _left(ledger, tree.cell_a)
    with refused(ledger, errors.OutOfOrder, "effective-date-out-of-order"):
        ledger.restore_member(tree.cell_a, candidate.national_id, date(2022, 8, 1), decision(date(2022, 8, 1)), CLERK)
