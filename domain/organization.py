"""The party organization: one event stream per organization, from the Centre down to the cell.

An organization keeps its place in the tree (its parent and its active children), its plans, and,
when it is a cell, the roster: the files of its members, the guests it hosts on temporary
transfers, and the transfers announced to it. Rules that need only this state are checked here;
rules that span organizations are checked by the ledger before it calls these methods.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import errors, rules
from domain.copying import CopiedByContainers
from domain.values import (
    Decision,
    FormerMember,
    Guest,
    IncomingTransfer,
    Kind,
    MemberFile,
    OrganizationStatus,
    Period,
    PersonProfile,
    Removal,
    RemovalReason,
    Transfer,
    TransferKind,
    TransferPurpose,
    organization_id,
)


class Organization(CopiedByContainers, Aggregate):
    """A party organization and, for a cell, its roster."""

    class Event(Aggregate.Event):
        """Every event says when it takes effect, on which decision, and who recorded it."""

        effective_on: date
        decision: Decision | None
        recorded_by: str

    class RosterEvent(Event):
        """An event about the members, guests or transfers of a cell: it marks the cell as active
        on its effective date, and a cell cannot end before the last such date."""

        def mutate(self, aggregate: Any) -> Any:
            org = super().mutate(aggregate)
            org.activity_on = max(org.activity_on, self.effective_on)
            return org

    # --- the tree ------------------------------------------------------------------------------

    class Founded(Aggregate.Created, Event):
        code: str
        name: str
        kind: Kind
        parent: str | None

    def __init__(
        self,
        code: str,
        name: str,
        kind: Kind,
        parent: str | None,
        effective_on: date,
        decision: Decision | None,
        recorded_by: str,
    ) -> None:
        self.code = code
        self.name = name
        self.kind = kind
        self.parent = parent
        self.status = OrganizationStatus.ACTIVE
        self.founded_on = effective_on
        self.ended_on: date | None = None
        self.successor: str | None = None
        self.structure_changed_on = effective_on
        self.activity_on = effective_on
        self.children: dict[str, Kind] = {}
        self.plans: dict[str, int] = {}
        self.members: dict[str, MemberFile] = {}
        self.former: dict[str, FormerMember] = {}
        self.guests: dict[str, Guest] = {}
        self.incoming: dict[str, IncomingTransfer] = {}
        self.forwarding: dict[str, str] = {}

    @staticmethod
    def create_id(code: str) -> UUID:
        """An organization's stream is named after its code, which is never reused."""
        return organization_id(code)

    class ChildAttached(Event):
        child: str
        kind: Kind

        def apply(self, org: Organization) -> None:
            org.children[self.child] = self.kind
            org.structure_changed_on = max(org.structure_changed_on, self.effective_on)

    class ChildDetached(Event):
        child: str

        def apply(self, org: Organization) -> None:
            org.children.pop(self.child, None)
            org.structure_changed_on = max(org.structure_changed_on, self.effective_on)

    class Renamed(Event):
        new_name: str

        def apply(self, org: Organization) -> None:
            org.name = self.new_name
            org.structure_changed_on = self.effective_on

    class Reparented(Event):
        old_parent: str | None
        new_parent: str

        def apply(self, org: Organization) -> None:
            org.parent = self.new_parent
            org.structure_changed_on = self.effective_on

    class MergedInto(Event):
        """The organization ended by merging; its members, guests and children moved to `into`."""

        into: str
        members: list[str]
        children: list[str]

        def apply(self, org: Organization) -> None:
            org.end(OrganizationStatus.MERGED, self.effective_on, successor=self.into)

    class SplitUp(Event):
        """The organization ended by splitting; `parts` maps each successor to what it received."""

        parts: dict[str, dict[str, list[str]]]

        def apply(self, org: Organization) -> None:
            org.end(OrganizationStatus.SPLIT, self.effective_on, successor=None)
            org.forwarding = {
                member: into for into, part in self.parts.items() for member in part["members"]
            }

    class Absorbed(RosterEvent):
        """Members, guests, announced transfers and children arrived from a merged or split unit."""

        source: str
        members: list[MemberFile]
        guests: list[Guest]
        incoming: list[IncomingTransfer]
        children: dict[str, Kind]

        def apply(self, org: Organization) -> None:
            for file in self.members:
                org.members[str(file.member_id)] = file.touched(self.effective_on)
            for guest in self.guests:
                org.guests[str(guest.transfer_id)] = guest
            for transfer in self.incoming:
                org.incoming[str(transfer.transfer_id)] = transfer
            org.children.update(self.children)
            org.structure_changed_on = max(org.structure_changed_on, self.effective_on)

    class Dissolved(Event):
        def apply(self, org: Organization) -> None:
            org.end(OrganizationStatus.DISSOLVED, self.effective_on, successor=None)

    class PlanSet(Event):
        period: str
        admissions: int

        def apply(self, org: Organization) -> None:
            org.plans[self.period] = self.admissions

    def end(self, status: OrganizationStatus, on: date, successor: str | None) -> None:
        """Close the organization; what it held has moved elsewhere or was already gone."""
        self.status = status
        self.ended_on = on
        self.successor = successor
        self.structure_changed_on = on
        self.members = {}
        self.guests = {}
        self.incoming = {}
        self.children = {}

    @property
    def is_active(self) -> bool:
        return self.status is OrganizationStatus.ACTIVE

    def forwarded_to(self, member_id: UUID) -> str | None:
        """Where a member of this ended organization went: the merger's target or the split's part."""
        return self.forwarding.get(str(member_id), self.successor)

    def check_is_active(self, on: date | None = None) -> None:
        """Commands are taken only by an organization that exists on the effective date."""
        if not self.is_active:
            raise errors.OrganizationNotActive(
                f"{self.code} was {self.status.value} on {self.ended_on}"
            )
        if on is not None and on < self.founded_on:
            raise errors.NotBeforeFounding(f"{self.code} was founded on {self.founded_on}")

    def check_structure_date(self, on: date) -> None:
        """Changes to an organization's place in the tree take effect in order."""
        self.check_is_active(on)
        if on < self.structure_changed_on:
            raise errors.StructureOutOfOrder(
                f"{self.code} last changed on {self.structure_changed_on}, after {on}"
            )

    def check_can_end(self, on: date) -> None:
        """An organization ends on or after every change to its roster, in effective dates."""
        self.check_structure_date(on)
        if on < self.activity_on:
            raise errors.StructureOutOfOrder(
                f"{self.code} has members' events up to {self.activity_on}, after {on}"
            )

    def check_can_hold(self, kind: Kind) -> None:
        """A child of `kind` may sit under this organization."""
        rules.check_kind_allowed_under(kind, self.kind)

    def attach_child(
        self, child: str, kind: Kind, on: date, decision: Decision | None, recorded_by: str
    ) -> None:
        """Take a new or moved organization under this one."""
        self.check_is_active(on)
        self.check_can_hold(kind)
        self.trigger_event(
            self.ChildAttached,
            child=child,
            kind=kind,
            effective_on=on,
            decision=decision,
            recorded_by=recorded_by,
        )

    def detach_child(
        self, child: str, on: date, decision: Decision | None, recorded_by: str
    ) -> None:
        """Let a child go: it moved elsewhere or was dissolved."""
        self.trigger_event(
            self.ChildDetached, child=child, effective_on=on, decision=decision, recorded_by=recorded_by
        )

    def rename(self, new_name: str, on: date, decision: Decision, recorded_by: str) -> None:
        """Give the organization a new name from the effective date."""
        self.check_structure_date(on)
        self.trigger_event(
            self.Renamed, new_name=new_name, effective_on=on, decision=decision, recorded_by=recorded_by
        )

    def move_under(self, new_parent: str, on: date, decision: Decision, recorded_by: str) -> None:
        """Re-parent the organization (its whole subtree moves with it)."""
        self.check_structure_date(on)
        self.trigger_event(
            self.Reparented,
            old_parent=self.parent,
            new_parent=new_parent,
            effective_on=on,
            decision=decision,
            recorded_by=recorded_by,
        )

    def merge_into(self, into: str, on: date, decision: Decision, recorded_by: str) -> dict[str, Any]:
        """End this organization; return what moves to `into` (members, guests, transfers, children)."""
        self.check_can_end(on)
        contents = {
            "members": list(self.members.values()),
            "guests": list(self.guests.values()),
            "incoming": list(self.incoming.values()),
            "children": dict(self.children),
        }
        self.trigger_event(
            self.MergedInto,
            into=into,
            members=list(self.members),
            children=list(self.children),
            effective_on=on,
            decision=decision,
            recorded_by=recorded_by,
        )
        return contents

    def split_up(
        self, parts: dict[str, dict[str, list[str]]], on: date, decision: Decision, recorded_by: str
    ) -> dict[str, dict[str, Any]]:
        """End this organization, sharing every member and child among `parts` (chia tách)."""
        self.check_can_end(on)
        if self.guests or self.incoming:
            raise errors.OrganizationNotEmpty(
                f"{self.code} hosts guests or awaits transfers; settle them before splitting"
            )
        allocated_members = [m for part in parts.values() for m in part.get("members", [])]
        allocated_children = [c for part in parts.values() for c in part.get("children", [])]
        if sorted(allocated_members) != sorted(self.members) or sorted(allocated_children) != sorted(
            self.children
        ):
            raise errors.AllocationIncomplete(
                f"{self.code} has {len(self.members)} members and {len(self.children)} children; "
                "each must go to exactly one part"
            )
        contents = {
            into: {
                "members": [self.members[m] for m in part.get("members", [])],
                "children": {c: self.children[c] for c in part.get("children", [])},
            }
            for into, part in parts.items()
        }
        self.trigger_event(
            self.SplitUp,
            parts={
                into: {"members": list(part.get("members", [])), "children": list(part.get("children", []))}
                for into, part in parts.items()
            },
            effective_on=on,
            decision=decision,
            recorded_by=recorded_by,
        )
        return contents

    def absorb(
        self,
        source: str,
        members: list[MemberFile],
        guests: list[Guest],
        incoming: list[IncomingTransfer],
        children: dict[str, Kind],
        on: date,
        decision: Decision,
        recorded_by: str,
    ) -> None:
        """Receive what a merged or split organization held, collectively (chuyển sinh hoạt tập thể)."""
        self.check_is_active(on)
        if members or guests or incoming:
            rules.check_holds_members(self.kind, self.code)
        for kind in children.values():
            self.check_can_hold(kind)
        self.trigger_event(
            self.Absorbed,
            source=source,
            members=members,
            guests=guests,
            incoming=incoming,
            children=children,
            effective_on=on,
            decision=decision,
            recorded_by=recorded_by,
        )

    def dissolve(self, on: date, decision: Decision, recorded_by: str) -> None:
        """End an empty organization (giải thể)."""
        self.check_can_end(on)
        if self.members or self.guests or self.incoming or self.children:
            raise errors.OrganizationNotEmpty(
                f"{self.code} has {len(self.members)} members, {len(self.guests)} guests, "
                f"{len(self.incoming)} transfers awaited and {len(self.children)} children"
            )
        self.trigger_event(
            self.Dissolved, effective_on=on, decision=decision, recorded_by=recorded_by
        )

    def set_plan(self, period: Period, admissions: int, on: date, recorded_by: str) -> None:
        """Set or revise the admissions target (chỉ tiêu) for a year or a term."""
        if admissions < 0:
            raise errors.InvalidValue("admissions", "must not be negative")
        self.trigger_event(
            self.PlanSet,
            period=str(period),
            admissions=admissions,
            effective_on=on,
            decision=None,
            recorded_by=recorded_by,
        )

    # --- members -------------------------------------------------------------------------------

    class MemberAdmitted(RosterEvent):
        """Admitted on probation; `hard_area` says the admission was in a designated hard area."""

        class_version = 2

        member_id: UUID
        person: PersonProfile
        probation_ends_on: date
        joined_on: date
        admissions: int
        hard_area: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 did not say; the education exemption was not recorded, so assume not."""
            state["hard_area"] = False

        def apply(self, org: Organization) -> None:
            org.former.pop(str(self.member_id), None)
            org.members[str(self.member_id)] = MemberFile(
                member_id=self.member_id,
                person=self.person,
                joined_on=self.joined_on,
                admitted_on=self.effective_on,
                probation_ends_on=self.probation_ends_on,
                last_event_on=self.effective_on,
                admissions=self.admissions,
            )

    class MembershipConfirmed(RosterEvent):
        """Official from `effective_on`, the day probation ended, by a decision taken `decided_on`."""

        member_id: UUID
        decided_on: date

        def apply(self, org: Organization) -> None:
            key = str(self.member_id)
            file = org.members[key]
            org.members[key] = replace(file, official_since=self.effective_on).touched(self.decided_on)

    class TransferIssued(RosterEvent):
        transfer_id: UUID
        member_id: UUID
        kind: TransferKind
        to: str
        until: date | None
        purpose: TransferPurpose

        def apply(self, org: Organization) -> None:
            key = str(self.member_id)
            transfer = Transfer(
                transfer_id=self.transfer_id,
                kind=self.kind,
                to=self.to,
                issued_on=self.effective_on,
                until=self.until,
            )
            org.members[key] = replace(org.members[key], transfer=transfer).touched(self.effective_on)

    class TransferAnnounced(RosterEvent):
        """A transfer was issued to this organization; it waits for the member to arrive."""

        transfer: IncomingTransfer

        def apply(self, org: Organization) -> None:
            org.incoming[str(self.transfer.transfer_id)] = self.transfer

    class MemberTransferredOut(RosterEvent):
        """The member of an official transfer was received at `to` and left this roster."""

        transfer_id: UUID
        member_id: UUID
        to: str

        def apply(self, org: Organization) -> None:
            org.members.pop(str(self.member_id))

    class MemberTransferredIn(RosterEvent):
        """The member of an official transfer arrived with the file and joined this roster."""

        transfer_id: UUID
        source: str
        file: MemberFile

        def apply(self, org: Organization) -> None:
            org.incoming.pop(str(self.transfer_id), None)
            org.members[str(self.file.member_id)] = self.file

    class TemporaryTransferStarted(RosterEvent):
        """The member began attending `host` as a guest; the member stays on this roster."""

        transfer_id: UUID
        member_id: UUID
        host: str

        def apply(self, org: Organization) -> None:
            key = str(self.member_id)
            file = org.members[key]
            assert file.transfer is not None
            transfer = replace(file.transfer, received_on=self.effective_on)
            org.members[key] = replace(file, transfer=transfer).touched(self.effective_on)

    class GuestReceived(RosterEvent):
        guest: Guest

        def apply(self, org: Organization) -> None:
            org.incoming.pop(str(self.guest.transfer_id), None)
            org.guests[str(self.guest.transfer_id)] = self.guest

    class GuestReturned(RosterEvent):
        transfer_id: UUID
        member_id: UUID

        def apply(self, org: Organization) -> None:
            org.guests.pop(str(self.transfer_id), None)

    class TransferClosed(RosterEvent):
        """The member's open transfer ended here: a temporary stay is over, or it was cancelled."""

        transfer_id: UUID
        member_id: UUID
        reason: str

        def apply(self, org: Organization) -> None:
            key = str(self.member_id)
            org.members[key] = replace(org.members[key], transfer=None).touched(self.effective_on)

    class TransferWithdrawn(RosterEvent):
        """An announced transfer will not arrive (the member left the Party or it was cancelled)."""

        transfer_id: UUID
        reason: str

        def apply(self, org: Organization) -> None:
            org.incoming.pop(str(self.transfer_id), None)
            org.guests.pop(str(self.transfer_id), None)

    class MemberRemoved(RosterEvent):
        member_id: UUID
        reason: RemovalReason
        was_probationary: bool

        def apply(self, org: Organization) -> None:
            file = org.members.pop(str(self.member_id))
            removal = Removal(self.reason, self.effective_on, self.was_probationary)
            org.former[str(self.member_id)] = FormerMember(file=replace(file, transfer=None), removal=removal)

    class MemberRestored(RosterEvent):
        """Party membership restored after a wrongful removal (phục hồi đảng tịch), party age kept."""

        file: MemberFile

        def apply(self, org: Organization) -> None:
            org.former.pop(str(self.file.member_id), None)
            org.members[str(self.file.member_id)] = self.file

    def member(self, member_id: UUID) -> MemberFile:
        """The file of an active member of this cell."""
        key = str(member_id)
        if key in self.members:
            return self.members[key]
        if key in self.former:
            removal = self.former[key].removal
            raise errors.MemberRemoved(
                f"member {member_id} left the Party on {removal.effective_on} ({removal.reason.value})"
            )
        raise errors.MemberNotFound(f"no member {member_id} on the roster of {self.code}")

    def _check_member_date(self, file: MemberFile, on: date) -> None:
        if file.last_event_on and on < file.last_event_on:
            raise errors.OutOfOrder(
                f"member {file.member_id} has an event on {file.last_event_on}, after {on}"
            )

    def admit(
        self,
        member_id: UUID,
        person: PersonProfile,
        admitted_on: date,
        decision: Decision,
        joined_on: date,
        admissions: int,
        recorded_by: str,
        hard_area: bool = False,
    ) -> None:
        """Put a newly admitted (or readmitted) member on the roster, on probation."""
        self.check_is_active(admitted_on)
        rules.check_holds_members(self.kind, self.code)
        rules.check_decision_precedes(decision, admitted_on, "admission ceremony")
        self.trigger_event(
            self.MemberAdmitted,
            member_id=member_id,
            person=person,
            probation_ends_on=rules.probation_ends_on(admitted_on),
            joined_on=joined_on,
            admissions=admissions,
            hard_area=hard_area,
            effective_on=admitted_on,
            decision=decision,
            recorded_by=recorded_by,
        )

    def confirm_membership(
        self, member_id: UUID, decided_on: date, decision: Decision, recorded_by: str
    ) -> MemberFile:
        """Make a probationary member official from the day probation ended."""
        self.check_is_active(decided_on)
        file = self.member(member_id)
        if file.official_since is not None:
            raise errors.NotProbationary(f"member {member_id} is official since {file.official_since}")
        rules.check_probation_ended(file.probation_ends_on, decided_on)
        self._check_member_date(file, decided_on)
        self.trigger_event(
            self.MembershipConfirmed,
            member_id=member_id,
            decided_on=decided_on,
            effective_on=file.probation_ends_on,
            decision=decision,
            recorded_by=recorded_by,
        )
        return self.members[str(member_id)]

    def issue_transfer(
        self,
        member_id: UUID,
        transfer_id: UUID,
        kind: TransferKind,
        to: str,
        issued_on: date,
        until: date | None,
        purpose: TransferPurpose,
        decision: Decision,
        recorded_by: str,
    ) -> MemberFile:
        """Issue the introduction letter: the member is in transit (official) or goes as a guest."""
        self.check_is_active(issued_on)
        file = self.member(member_id)
        if file.transfer is not None:
            raise errors.TransferAlreadyOpen(
                f"transfer {file.transfer.transfer_id} to {file.transfer.to} is still open"
            )
        if to == self.code:
            raise errors.TransferToSameOrganization(f"{to} is the member's own cell")
        self._check_member_date(file, issued_on)
        rules.check_transfer_period(kind, issued_on, until, purpose)
        self.trigger_event(
            self.TransferIssued,
            transfer_id=transfer_id,
            member_id=member_id,
            kind=kind,
            to=to,
            until=until,
            purpose=purpose,
            effective_on=issued_on,
            decision=decision,
            recorded_by=recorded_by,
        )
        return self.members[str(member_id)]

    def announce_transfer(self, transfer: IncomingTransfer, decision: Decision, recorded_by: str) -> None:
        """Expect the member of a transfer issued elsewhere; a destination must keep a roster."""
        self.check_is_active(transfer.issued_on)
        rules.check_holds_members(self.kind, self.code)
        self.trigger_event(
            self.TransferAnnounced,
            transfer=transfer,
            effective_on=transfer.issued_on,
            decision=decision,
            recorded_by=recorded_by,
        )

    def incoming_transfer(self, transfer_id: UUID) -> IncomingTransfer:
        """A transfer announced here and not yet received."""
        key = str(transfer_id)
        if key in self.incoming:
            return self.incoming[key]
        if key in self.guests:
            raise errors.TransferAlreadyReceived(f"transfer {transfer_id} was received")
        raise errors.TransferNotFound(f"no transfer {transfer_id} awaited at {self.code}")

    def release_member(self, transfer_id: UUID, member_id: UUID, received_on: date, recorded_by: str) -> MemberFile:
        """The destination received the member: an official transfer takes the member off this roster."""
        file = self.member(member_id)
        transfer = file.transfer
        if transfer is None or transfer.transfer_id != transfer_id:
            raise errors.TransferNotFound(f"member {member_id} has no open transfer {transfer_id}")
        if transfer.received_on is not None:
            raise errors.TransferAlreadyReceived(f"transfer {transfer_id} was received on {transfer.received_on}")
        self._check_member_date(file, received_on)
        if transfer.kind is TransferKind.OFFICIAL:
            self.trigger_event(
                self.MemberTransferredOut,
                transfer_id=transfer_id,
                member_id=member_id,
                to=transfer.to,
                effective_on=received_on,
                decision=None,
                recorded_by=recorded_by,
            )
            return replace(file, transfer=None, last_event_on=received_on)
        self.trigger_event(
            self.TemporaryTransferStarted,
            transfer_id=transfer_id,
            member_id=member_id,
            host=transfer.to,
            effective_on=received_on,
            decision=None,
            recorded_by=recorded_by,
        )
        return file

    def receive_member(self, source: str, file: MemberFile, transfer_id: UUID, received_on: date, recorded_by: str) -> None:
        """The member of an official transfer joins this roster with the file."""
        self.check_is_active(received_on)
        self.trigger_event(
            self.MemberTransferredIn,
            transfer_id=transfer_id,
            source=source,
            file=file,
            effective_on=received_on,
            decision=None,
            recorded_by=recorded_by,
        )

    def receive_guest(self, guest: Guest, recorded_by: str) -> None:
        """The member of a temporary transfer attends here without joining the headcount."""
        self.check_is_active(guest.received_on)
        self.trigger_event(
            self.GuestReceived,
            guest=guest,
            effective_on=guest.received_on,
            decision=None,
            recorded_by=recorded_by,
        )

    def guest(self, transfer_id: UUID) -> Guest:
        """A guest hosted here on a temporary transfer."""
        key = str(transfer_id)
        if key not in self.guests:
            if key in self.incoming:
                raise errors.NotTemporary(f"transfer {transfer_id} has not been received yet")
            raise errors.TransferNotFound(f"no guest on transfer {transfer_id} at {self.code}")
        return self.guests[key]

    def see_guest_off(self, transfer_id: UUID, returned_on: date, recorded_by: str) -> Guest:
        """A temporary stay ends: the guest goes home."""
        guest = self.guest(transfer_id)
        if returned_on < guest.received_on:
            raise errors.OutOfOrder(f"the guest arrived on {guest.received_on}, after {returned_on}")
        self.trigger_event(
            self.GuestReturned,
            transfer_id=transfer_id,
            member_id=guest.member_id,
            effective_on=returned_on,
            decision=None,
            recorded_by=recorded_by,
        )
        return guest

    def close_transfer(
        self, member_id: UUID, on: date, reason: str, decision: Decision | None, recorded_by: str
    ) -> Transfer:
        """End the member's open transfer on the home roster: the member is back, or it was cancelled."""
        file = self.member(member_id)
        if file.transfer is None:
            raise errors.TransferNotFound(f"member {member_id} has no open transfer")
        self._check_member_date(file, on)
        transfer = file.transfer
        self.trigger_event(
            self.TransferClosed,
            transfer_id=transfer.transfer_id,
            member_id=member_id,
            reason=reason,
            effective_on=on,
            decision=decision,
            recorded_by=recorded_by,
        )
        return transfer

    def withdraw_transfer(self, transfer_id: UUID, on: date, reason: str, recorded_by: str) -> None:
        """Forget a transfer announced here (or a guest's stay) that ended at the member's home."""
        if str(transfer_id) in self.incoming or str(transfer_id) in self.guests:
            self.trigger_event(
                self.TransferWithdrawn,
                transfer_id=transfer_id,
                reason=reason,
                effective_on=on,
                decision=None,
                recorded_by=recorded_by,
            )

    def remove_member(
        self, member_id: UUID, reason: RemovalReason, on: date, decision: Decision, recorded_by: str
    ) -> MemberFile:
        """Take a member off the roster for good: expelled, delisted, voluntary exit or deceased."""
        self.check_is_active(on)
        file = self.member(member_id)
        self._check_member_date(file, on)
        self.trigger_event(
            self.MemberRemoved,
            member_id=member_id,
            reason=reason,
            was_probationary=file.official_since is None,
            effective_on=on,
            decision=decision,
            recorded_by=recorded_by,
        )
        return file

    def restore_member(self, file: MemberFile, restored_on: date, decision: Decision, recorded_by: str) -> None:
        """Put a wrongly removed member back on a roster, with the file and party age as they were."""
        self.check_is_active(restored_on)
        rules.check_holds_members(self.kind, self.code)
        self.trigger_event(
            self.MemberRestored,
            file=replace(file, transfer=None, last_event_on=restored_on),
            effective_on=restored_on,
            decision=decision,
            recorded_by=recorded_by,
        )
