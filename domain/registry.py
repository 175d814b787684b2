"""The registry of persons: one stream per national ID, so a person is an active member of one cell.

Every command that puts a person on a roster or takes them off saves the person's registry entry
in the same transaction as the organizations involved. Two clerks admitting the same person at
the same moment therefore collide on this stream, and the second finds the person already a member.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import errors, rules
from domain.copying import CopiedByContainers
from domain.values import RemovalReason, person_id

# Which cell holds the person is not said: the caller may be a clerk of another province, whose
# token may not see that cell. Within its scope a token finds it with GET /v1/members?national_id=.
ACTIVE_ELSEWHERE = "the person is an active member of a cell; one person is on one roster at a time"


class Person(CopiedByContainers, Aggregate):
    """A person's standing in the Party: which cell holds them now, and how they last left."""

    class Event(Aggregate.Event):
        effective_on: date

    class Registered(Aggregate.Created, Event):
        national_id: str
        member_id: UUID
        organization: str

    def __init__(self, national_id: str, member_id: UUID, organization: str, effective_on: date) -> None:
        self.national_id = national_id
        self.member_id = member_id
        self.organization: str | None = organization
        self.joined_on = effective_on
        self.readmissions = 0
        self.left_from: str | None = None
        self.left_on: date | None = None
        self.left_reason: RemovalReason | None = None

    @staticmethod
    def create_id(national_id: str) -> UUID:
        """The registry entry is named after the national ID."""
        return person_id(national_id)

    class Readmitted(Event):
        organization: str

        def apply(self, person: Person) -> None:
            person.organization = self.organization
            person.readmissions += 1
            person.joined_on = self.effective_on
            person.left_from = person.left_on = person.left_reason = None

    class Moved(Event):
        organization: str

        def apply(self, person: Person) -> None:
            person.organization = self.organization

    class Left(Event):
        reason: RemovalReason

        def apply(self, person: Person) -> None:
            person.left_from = person.organization
            person.organization = None
            person.left_on = self.effective_on
            person.left_reason = self.reason

    class Restored(Event):
        organization: str

        def apply(self, person: Person) -> None:
            person.organization = self.organization
            person.left_from = person.left_on = person.left_reason = None

    @property
    def is_active(self) -> bool:
        """Whether the person is on a roster now."""
        return self.organization is not None

    def check_not_active(self) -> None:
        """A person can be an active member of only one cell at a time."""
        if self.organization is not None:
            raise errors.AlreadyAMember(ACTIVE_ELSEWHERE)

    def readmit(self, organization: str, admitted_on: date) -> None:
        """Admit again a person who left: once only, 36 months after leaving, never after death."""
        self.check_not_active()
        assert self.left_on is not None and self.left_reason is not None
        rules.check_readmission(self.left_on, self.left_reason, self.readmissions, admitted_on)
        self.trigger_event(self.Readmitted, organization=organization, effective_on=admitted_on)

    def move_to(self, organization: str, on: date) -> None:
        """The person's roster place moved (official transfer, merger or split)."""
        self.trigger_event(self.Moved, organization=organization, effective_on=on)

    def leave(self, reason: RemovalReason, on: date) -> None:
        """The person left the Party."""
        self.trigger_event(self.Left, reason=reason, effective_on=on)

    def restore(self, organization: str, on: date) -> None:
        """Restore a wrongly removed person (not after death)."""
        if self.is_active:
            raise errors.NotRemoved(ACTIVE_ELSEWHERE)
        if self.left_reason is RemovalReason.DECEASED:
            raise errors.PersonDeceased("a deceased person cannot be restored")
        self.trigger_event(self.Restored, organization=organization, effective_on=on)
