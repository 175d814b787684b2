"""Transfers of party activity (chuyển sinh hoạt đảng), official and temporary, through the ledger,
on SQLite and PostgreSQL."""

from datetime import date
from uuid import UUID

from eventsourcing.utils import get_topic

from domain import errors
from domain.ledger import Ledger
from domain.organization import Organization
from domain.registry import Person
from domain.values import Kind, MemberStatus, RemovalReason, TransferKind, TransferPurpose
from tests.builders import CLERK, Tree, admit, code, decision, found, refused

ISSUED_ON = date(2023, 3, 1)
RECEIVED_ON = date(2023, 3, 20)
UNTIL = date(2023, 9, 1)
RETURNED_ON = date(2023, 9, 1)


def _official(ledger: Ledger, source: str, member_id: UUID, to: str, on: date = ISSUED_ON) -> UUID:
    issued = ledger.issue_transfer(source, member_id, to, TransferKind.OFFICIAL, on, None, decision(on), CLERK)
    return issued.transfer_id


def _temporary(ledger: Ledger, source: str, member_id: UUID, to: str, until: date = UNTIL) -> UUID:
    return ledger.issue_transfer(
        source, member_id, to, TransferKind.TEMPORARY, ISSUED_ON, until, decision(ISSUED_ON), CLERK
    ).transfer_id


def _other_province_cell(ledger: Ledger) -> str:
    """A grassroots cell in Ho Chi Minh City, far from the Hanoi branch."""
    province = found(ledger, "HCM", "Đảng bộ Thành phố Hồ Chí Minh", Kind.PROVINCIAL, None)
    ward = found(ledger, "HCM.BENTHANH", "Đảng bộ phường Bến Thành", Kind.UPPER_GRASSROOTS, province)
    return found(ledger, "HCM.BENTHANH.KP1", "Chi bộ khu phố 1", Kind.GRASSROOTS_CELL, ward)


# --- official transfers ----------------------------------------------------------------------------


def test_a_member_in_transit_stays_on_the_senders_roster_until_received(ledger: Ledger, tree: Tree) -> None:
    """After the letter is issued the member is in transit at the sender; the destination only waits."""
    admission, candidate = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    file = ledger.organization(tree.cell_a).members[str(admission.member_id)]
    assert file.roster_status is MemberStatus.IN_TRANSIT
    destination = ledger.organization(tree.cell_c)
    assert str(admission.member_id) not in destination.members
    assert str(transfer_id) in destination.incoming
    assert ledger.person(candidate.national_id).organization == tree.cell_a  # type: ignore[union-attr]


def test_reception_moves_the_member_with_the_file_across_provinces(ledger: Ledger, tree: Tree) -> None:
    """At reception the file (admission date, probation) leaves the sender and joins the destination."""
    admission, candidate = admit(ledger, tree.cell_a)
    far = _other_province_cell(ledger)
    before = ledger.organization(tree.cell_a).members[str(admission.member_id)]
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, far)
    ledger.receive_transfer(far, transfer_id, RECEIVED_ON, CLERK)
    assert str(admission.member_id) not in ledger.organization(tree.cell_a).members
    arrived = ledger.organization(far).members[str(admission.member_id)]
    assert (arrived.person, arrived.joined_on, arrived.probation_ends_on, arrived.transfer) == (
        candidate, before.joined_on, before.probation_ends_on, None
    )
    assert ledger.person(candidate.national_id).organization == far  # type: ignore[union-attr]


def test_reception_records_sender_destination_and_registry_together(ledger: Ledger, tree: Tree) -> None:
    """The three events of a reception are written in one transaction, one after the other."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    before = ledger.recorder.max_notification_id()
    recorded = ledger.receive_transfer(tree.cell_c, transfer_id, RECEIVED_ON, CLERK)
    written = ledger.recorder.select_notifications(start=before, limit=10, inclusive_of_start=False)
    assert [n.topic for n in written] == [
        get_topic(Organization.MemberTransferredOut),
        get_topic(Organization.MemberTransferredIn),
        get_topic(Person.Moved),
    ]
    assert [n.id for n in written] == list(range(before + 1, recorded.position + 1))  # type: ignore[operator]


def test_a_second_transfer_while_one_is_open_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A member never has two open transfers: transfer-already-open."""
    admission, _ = admit(ledger, tree.cell_a)
    _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    with refused(ledger, errors.TransferAlreadyOpen, "transfer-already-open"):
        _official(ledger, tree.cell_a, admission.member_id, tree.cell_b, on=date(2023, 3, 2))


def test_a_transfer_to_the_members_own_cell_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A transfer must go to another organization."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.TransferToSameOrganization, "transfer-to-same-organization"):
        _official(ledger, tree.cell_a, admission.member_id, tree.cell_a)


def test_a_transfer_to_a_committee_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A transfer goes to a cell that keeps a roster, not to a committee."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.HoldsNoMembers, "organization-holds-no-members"):
        _official(ledger, tree.cell_a, admission.member_id, tree.committee)


def test_a_transfer_to_an_unknown_organization_is_refused_as_not_found(ledger: Ledger, tree: Tree) -> None:
    """The destination must exist in the ledger."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.OrganizationNotFound, "organization-not-found"):
        _official(ledger, tree.cell_a, admission.member_id, code("DN.HAICHAU.KDC2"))


def test_a_transfer_of_someone_not_on_the_roster_is_refused_as_member_not_found(ledger: Ledger, tree: Tree) -> None:
    """Only a cell's own members can be transferred from it."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.MemberNotFound, "member-not-found"):
        _official(ledger, tree.cell_b, admission.member_id, tree.cell_c)


def test_a_transfer_dated_before_the_members_last_event_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """A transfer cannot be issued before the member's admission."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.OutOfOrder, "effective-date-out-of-order"):
        _official(ledger, tree.cell_a, admission.member_id, tree.cell_c, on=date(2021, 3, 1))


def test_an_official_transfer_with_an_end_date_is_refused(ledger: Ledger, tree: Tree) -> None:
    """An official transfer has no end date: invalid-transfer-duration."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.InvalidTransferDuration, "invalid-transfer-duration"):
        ledger.issue_transfer(
            tree.cell_a, admission.member_id, tree.cell_c, TransferKind.OFFICIAL, ISSUED_ON, UNTIL,
            decision(ISSUED_ON), CLERK,
        )


def test_a_reception_dated_before_the_issue_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """The member cannot present a letter before it was issued."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    with refused(ledger, errors.OutOfOrder, "effective-date-out-of-order"):
        ledger.receive_transfer(tree.cell_c, transfer_id, date(2023, 2, 28), CLERK)


def test_a_transfer_received_twice_is_refused(ledger: Ledger, tree: Tree) -> None:
    """Once received, the transfer is no longer awaited at the destination."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    ledger.receive_transfer(tree.cell_c, transfer_id, RECEIVED_ON, CLERK)
    with refused(ledger, errors.TransferNotFound, "transfer-not-found"):
        ledger.receive_transfer(tree.cell_c, transfer_id, date(2023, 3, 21), CLERK)


def test_a_cancelled_transfer_is_closed_at_home_and_withdrawn_at_the_destination(ledger: Ledger, tree: Tree) -> None:
    """Cancelling closes the transfer at the sender and withdraws it at the destination."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    ledger.cancel_transfer(tree.cell_a, admission.member_id, date(2023, 3, 10), decision(date(2023, 3, 10)), CLERK)
    assert ledger.organization(tree.cell_a).members[str(admission.member_id)].transfer is None
    assert str(transfer_id) not in ledger.organization(tree.cell_c).incoming


def test_removing_a_member_in_transit_withdraws_the_transfer_at_the_destination(ledger: Ledger, tree: Tree) -> None:
    """A destination stops waiting for someone who has left the Party."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    ledger.remove_member(
        tree.cell_a, admission.member_id, RemovalReason.DECEASED, date(2023, 3, 5), decision(date(2023, 3, 5)), CLERK
    )
    assert str(transfer_id) not in ledger.organization(tree.cell_c).incoming


def test_a_transfer_issued_before_a_merger_is_received_from_the_successor(ledger: Ledger, tree: Tree) -> None:
    """When the sender merged while the member was in transit, reception takes the file from the merged cell."""
    admission, candidate = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    ledger.merge_organization(tree.cell_a, tree.cell_b, date(2023, 3, 10), decision(date(2023, 3, 10)), CLERK)
    ledger.receive_transfer(tree.cell_c, transfer_id, RECEIVED_ON, CLERK)
    assert str(admission.member_id) not in ledger.organization(tree.cell_b).members
    assert str(admission.member_id) in ledger.organization(tree.cell_c).members
    assert ledger.person(candidate.national_id).organization == tree.cell_c  # type: ignore[union-attr]


def test_a_transfer_issued_before_a_split_is_received_from_the_members_part(ledger: Ledger, tree: Tree) -> None:
    """When the sender split while the member was in transit, reception takes the file from the member's part."""
    admission, candidate = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_c)
    ledger.split_organization(
        tree.cell_a, {tree.cell_b: {"members": [str(admission.member_id)]}}, date(2023, 3, 10),
        decision(date(2023, 3, 10)), CLERK,
    )
    ledger.receive_transfer(tree.cell_c, transfer_id, RECEIVED_ON, CLERK)
    assert str(admission.member_id) not in ledger.organization(tree.cell_b).members
    assert ledger.person(candidate.national_id).organization == tree.cell_c  # type: ignore[union-attr]


# --- temporary transfers ---------------------------------------------------------------------------


def test_a_temporary_transfer_shorter_than_three_months_is_refused(ledger: Ledger, tree: Tree) -> None:
    """A temporary transfer lasts at least three months."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.InvalidTransferDuration, "invalid-transfer-duration"):
        _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b, until=date(2023, 5, 31))


def test_a_temporary_work_transfer_of_a_full_year_is_refused(ledger: Ledger, tree: Tree) -> None:
    """For work a temporary transfer lasts under one year."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.InvalidTransferDuration, "invalid-transfer-duration"):
        _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b, until=date(2024, 3, 1))


def test_a_temporary_transfer_for_study_may_last_two_years(ledger: Ledger, tree: Tree) -> None:
    """A member sent to study may attend elsewhere for up to 24 months."""
    admission, _ = admit(ledger, tree.cell_a)
    ledger.issue_transfer(
        tree.cell_a, admission.member_id, tree.cell_b, TransferKind.TEMPORARY, ISSUED_ON, date(2025, 3, 1),
        decision(ISSUED_ON), CLERK, purpose=TransferPurpose.STUDY,
    )
    transfer = ledger.organization(tree.cell_a).members[str(admission.member_id)].transfer
    assert transfer is not None and transfer.until == date(2025, 3, 1)


def test_a_temporary_transfer_for_study_over_two_years_is_refused(ledger: Ledger, tree: Tree) -> None:
    """Study stays are capped at 24 months."""
    admission, _ = admit(ledger, tree.cell_a)
    with refused(ledger, errors.InvalidTransferDuration, "invalid-transfer-duration"):
        ledger.issue_transfer(
            tree.cell_a, admission.member_id, tree.cell_b, TransferKind.TEMPORARY, ISSUED_ON, date(2025, 3, 2),
            decision(ISSUED_ON), CLERK, purpose=TransferPurpose.STUDY,
        )


def test_a_guest_attends_the_host_without_joining_its_roster(ledger: Ledger, tree: Tree) -> None:
    """On a temporary transfer the host lists a guest, not a member; the home roster keeps the member."""
    admission, candidate = admit(ledger, tree.cell_a)
    transfer_id = _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b)
    ledger.receive_transfer(tree.cell_b, transfer_id, RECEIVED_ON, CLERK)
    host = ledger.organization(tree.cell_b)
    assert str(admission.member_id) not in host.members
    guest = host.guests[str(transfer_id)]
    assert (guest.member_id, guest.home, guest.until) == (admission.member_id, tree.cell_a, UNTIL)
    assert str(admission.member_id) in ledger.organization(tree.cell_a).members
    assert ledger.person(candidate.national_id).organization == tree.cell_a  # type: ignore[union-attr]


def test_a_member_on_a_temporary_transfer_is_not_in_transit(ledger: Ledger, tree: Tree) -> None:
    """The home roster shows the member's own status while they attend elsewhere."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b)
    ledger.receive_transfer(tree.cell_b, transfer_id, RECEIVED_ON, CLERK)
    file = ledger.organization(tree.cell_a).members[str(admission.member_id)]
    assert file.roster_status is MemberStatus.PROBATIONARY
    assert file.transfer is not None and file.transfer.received_on == RECEIVED_ON


def test_the_return_of_a_guest_closes_the_transfer_and_allows_a_new_one(ledger: Ledger, tree: Tree) -> None:
    """After the stay ends the host forgets the guest, the home file has no transfer, and a new one may be issued."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b)
    ledger.receive_transfer(tree.cell_b, transfer_id, RECEIVED_ON, CLERK)
    ledger.end_temporary_transfer(tree.cell_b, transfer_id, RETURNED_ON, CLERK)
    assert ledger.organization(tree.cell_b).guests == {}
    assert ledger.organization(tree.cell_a).members[str(admission.member_id)].transfer is None
    _official(ledger, tree.cell_a, admission.member_id, tree.cell_c, on=date(2023, 10, 1))


def test_a_return_dated_before_the_guest_arrived_is_refused_as_out_of_order(ledger: Ledger, tree: Tree) -> None:
    """A stay cannot end before it began."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b)
    ledger.receive_transfer(tree.cell_b, transfer_id, RECEIVED_ON, CLERK)
    with refused(ledger, errors.OutOfOrder, "effective-date-out-of-order"):
        ledger.end_temporary_transfer(tree.cell_b, transfer_id, date(2023, 3, 19), CLERK)


def test_a_return_before_the_guest_arrived_is_refused_as_not_temporary(ledger: Ledger, tree: Tree) -> None:
    """A transfer still awaited at the host cannot end with a return."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b)
    with refused(ledger, errors.NotTemporary, "not-temporary"):
        ledger.end_temporary_transfer(tree.cell_b, transfer_id, RETURNED_ON, CLERK)


# --- when a merger makes two ends of a transfer the same cell ----------------------------------------


def _in_transit_to_the_cell_it_merged_into(ledger: Ledger, tree: Tree) -> tuple[UUID, UUID]:
    """A member of cell A in transit to cell B, then A merged into B; return member and transfer ids."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _official(ledger, tree.cell_a, admission.member_id, tree.cell_b)
    ledger.merge_organization(tree.cell_a, tree.cell_b, date(2023, 3, 10), decision(date(2023, 3, 10)), CLERK)
    return admission.member_id, transfer_id


def test_a_transfer_whose_sender_merged_into_its_destination_can_be_received(ledger: Ledger, tree: Tree) -> None:
    """Reception at the cell that absorbed the sender closes the transfer on its own roster."""
    member_id, transfer_id = _in_transit_to_the_cell_it_merged_into(ledger, tree)
    ledger.receive_transfer(tree.cell_b, transfer_id, RECEIVED_ON, CLERK)
    cell = ledger.organization(tree.cell_b)
    assert cell.members[str(member_id)].transfer is None
    assert cell.incoming == {}


def test_a_transfer_whose_sender_merged_into_its_destination_can_be_cancelled(ledger: Ledger, tree: Tree) -> None:
    """Cancelling at the merged cell closes the transfer and forgets the awaited arrival."""
    member_id, _ = _in_transit_to_the_cell_it_merged_into(ledger, tree)
    ledger.cancel_transfer(tree.cell_b, member_id, RECEIVED_ON, decision(RECEIVED_ON), CLERK)
    cell = ledger.organization(tree.cell_b)
    assert cell.members[str(member_id)].transfer is None
    assert cell.incoming == {}


def test_a_member_in_transit_to_the_cell_their_cell_merged_into_can_be_removed(ledger: Ledger, tree: Tree) -> None:
    """Removal of such a member also withdraws the arrival their own cell awaited."""
    member_id, _ = _in_transit_to_the_cell_it_merged_into(ledger, tree)
    ledger.remove_member(tree.cell_b, member_id, RemovalReason.DECEASED, RECEIVED_ON, decision(RECEIVED_ON), CLERK)
    cell = ledger.organization(tree.cell_b)
    assert (str(member_id) in cell.members, cell.incoming) == (False, {})


def test_a_guest_whose_host_merged_into_their_home_cell_can_return(ledger: Ledger, tree: Tree) -> None:
    """When the host merged into the guest's home cell, ending the stay closes the transfer there."""
    admission, _ = admit(ledger, tree.cell_a)
    transfer_id = _temporary(ledger, tree.cell_a, admission.member_id, tree.cell_b)
    ledger.receive_transfer(tree.cell_b, transfer_id, RECEIVED_ON, CLERK)
    ledger.merge_organization(tree.cell_b, tree.cell_a, date(2023, 6, 1), decision(date(2023, 6, 1)), CLERK)
    ledger.end_temporary_transfer(tree.cell_a, transfer_id, RETURNED_ON, CLERK)
    home = ledger.organization(tree.cell_a)
    assert (home.guests, home.members[str(admission.member_id)].transfer) == ({}, None)
