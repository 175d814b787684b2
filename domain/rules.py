"""The rules of the Party Charter and its guidance that the ledger enforces, as pure functions."""

from __future__ import annotations

from datetime import date

from domain import errors
from domain.values import (
    Decision,
    Education,
    Kind,
    PersonProfile,
    RemovalReason,
    TransferKind,
    TransferPurpose,
    add_months,
    months_between,
)

PROBATION_MONTHS = 12
MIN_ADMISSION_AGE_MONTHS = 18 * 12
MAX_ADMISSION_AGE_MONTHS = 60 * 12
READMISSION_GAP_MONTHS = 36
MAX_READMISSIONS = 1
TEMPORARY_TRANSFER_MIN_MONTHS = 3
TEMPORARY_TRANSFER_MAX_MONTHS = {TransferPurpose.WORK: 12, TransferPurpose.STUDY: 24}

# Which kinds may sit directly under which. Depth varies by branch: nothing here counts levels.
ALLOWED_CHILDREN: dict[Kind, frozenset[Kind]] = {
    Kind.CENTRAL: frozenset({Kind.PROVINCIAL}),
    Kind.PROVINCIAL: frozenset(
        {Kind.UPPER_GRASSROOTS, Kind.GRASSROOTS_COMMITTEE, Kind.GRASSROOTS_CELL}
    ),
    Kind.UPPER_GRASSROOTS: frozenset({Kind.GRASSROOTS_COMMITTEE, Kind.GRASSROOTS_CELL}),
    Kind.GRASSROOTS_COMMITTEE: frozenset({Kind.SUB_COMMITTEE, Kind.CELL}),
    Kind.SUB_COMMITTEE: frozenset({Kind.CELL}),
    Kind.GRASSROOTS_CELL: frozenset(),
    Kind.CELL: frozenset(),
}


def check_kind_allowed_under(child: Kind, parent: Kind) -> None:
    """A grassroots cell sits under an upper-grassroots committee, a cell under a committee, ..."""
    if child not in ALLOWED_CHILDREN[parent]:
        raise errors.KindNotAllowedUnderParent(
            f"a {child.value} cannot sit under a {parent.value}"
        )


def check_holds_members(kind: Kind, code: str) -> None:
    """Members are recorded only on cells and grassroots cells."""
    if not kind.holds_members:
        raise errors.HoldsNoMembers(f"{code} is a {kind.value}, which keeps no roster")


def probation_ends_on(admitted_on: date) -> date:
    """Probation lasts 12 months from the admission ceremony."""
    return add_months(admitted_on, PROBATION_MONTHS)


def check_admission_age(person: PersonProfile, admitted_on: date, decided_at_provincial_level: bool) -> None:
    """Age 18 to 60 at admission, counted in months; over 60 needs a provincial-level decision."""
    age_months = months_between(person.birth_date, admitted_on)
    if age_months < MIN_ADMISSION_AGE_MONTHS:
        raise errors.TooYoung(f"{age_months // 12} years {age_months % 12} months on {admitted_on}")
    if age_months > MAX_ADMISSION_AGE_MONTHS and not decided_at_provincial_level:
        raise errors.TooOld(
            f"{age_months // 12} years {age_months % 12} months on {admitted_on}; "
            "a provincial-level decision is required"
        )


def check_admission_education(person: PersonProfile, hard_area: bool) -> None:
    """At least lower-secondary education, except in designated hard areas."""
    if person.education is Education.PRIMARY and not hard_area:
        raise errors.EducationTooLow("primary education only, outside a designated hard area")


def check_decision_precedes(decision: Decision, effective_on: date, what: str) -> None:
    """A ceremony or an effect cannot come before the decision that orders it."""
    if decision.issued_on > effective_on:
        raise errors.DecisionAfterEvent(
            f"decision {decision.number} of {decision.issued_on} is after the {what} on {effective_on}"
        )


def check_readmission(
    left_on: date, reason: RemovalReason, readmissions: int, admitted_on: date
) -> None:
    """Readmission is allowed once, 36 months after leaving, never after death."""
    if reason is RemovalReason.DECEASED:
        raise errors.PersonDeceased("a deceased person cannot be readmitted")
    if readmissions >= MAX_READMISSIONS:
        raise errors.ReadmissionUsed("this person has already been readmitted once")
    earliest = add_months(left_on, READMISSION_GAP_MONTHS)
    if admitted_on < earliest:
        raise errors.ReadmissionTooEarly(f"left on {left_on}; readmission possible from {earliest}")


def check_probation_ended(ends_on: date, decided_on: date) -> None:
    """Confirmation is decided only once the 12 months of probation have passed."""
    if decided_on < ends_on:
        raise errors.ProbationNotEnded(f"probation ends on {ends_on}, decided on {decided_on}")


def check_transfer_period(
    kind: TransferKind, issued_on: date, until: date | None, purpose: TransferPurpose
) -> None:
    """Temporary: 3 months to under 1 year (study: up to 2 years). Official: no end date."""
    if kind is TransferKind.OFFICIAL:
        if until is not None:
            raise errors.InvalidTransferDuration("an official transfer has no end date")
        return
    if until is None:
        raise errors.InvalidTransferDuration("a temporary transfer needs an end date ('until')")
    shortest = add_months(issued_on, TEMPORARY_TRANSFER_MIN_MONTHS)
    longest = add_months(issued_on, TEMPORARY_TRANSFER_MAX_MONTHS[purpose])
    too_long = until >= longest if purpose is TransferPurpose.WORK else until > longest
    if until < shortest or too_long:
        raise errors.InvalidTransferDuration(
            f"{issued_on} to {until} is outside 3 months to "
            f"{'under 12' if purpose is TransferPurpose.WORK else '24'} months"
        )
