"""Members: admission, confirmation, transfers, removal and restoration, and reading a member's file.

Each command is recorded on the organization that holds the member (or, for a reception or a
return, on the organization the member arrives at), which must be inside the caller's scope.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from domain.errors import MemberNotFound, TransferNotFound
from domain.ledger import Ledger
from domain.values import (
    Education,
    NATIONAL_ID_PATTERN,
    Occupation,
    PersonProfile,
    PoliticalTheory,
    ProfessionalLevel,
    RemovalReason,
    Sex,
    TransferKind,
    TransferPurpose,
)
from service.auth import MemberReader, Recorder, check_may_read_member, check_may_record, shown_to
from service.context import LedgerDep, ReadModelsDep
from service.fields import Body, Code, DecisionBody, Flag, IsoDate, NationalId, Text
from service.routes.organizations import CodePath

router = APIRouter(tags=["members"])

NationalIdQuery = Annotated[str, Query(pattern=NATIONAL_ID_PATTERN.pattern, description="12-digit CCCD or 9-digit ID")]


class Person(Body):
    """The person admitted: identity and the facts Form 2 counts."""

    national_id: NationalId
    full_name: Text
    birth_date: IsoDate
    sex: Sex
    ethnicity: Text
    religion: Text | None = None
    youth_union_member: Flag = False
    education: Education | None = None
    professional_level: ProfessionalLevel | None = None
    political_theory: PoliticalTheory | None = None
    occupation: Occupation | None = None

    def value(self) -> PersonProfile:
        """The domain's person profile."""
        return PersonProfile(**dict(self))


class AdmissionBody(Body):
    """`POST /v1/organizations/{code}/admissions`."""

    person: Person
    admitted_on: IsoDate
    decision: DecisionBody
    hard_area: Flag = False


class ConfirmationBody(Body):
    """`POST .../members/{member_id}/confirmation`."""

    decided_on: IsoDate
    decision: DecisionBody


class TransferBody(Body):
    """`POST .../members/{member_id}/transfers`."""

    to: Code
    kind: TransferKind
    issued_on: IsoDate
    until: IsoDate | None = None
    purpose: TransferPurpose = TransferPurpose.WORK
    decision: DecisionBody


class ReceptionBody(Body):
    """`POST /v1/organizations/{to}/transfers/{transfer_id}/reception`."""

    received_on: IsoDate


class ReturnBody(Body):
    """`POST /v1/organizations/{to}/transfers/{transfer_id}/return`: a temporary stay ends."""

    returned_on: IsoDate


class CancellationBody(Body):
    """`POST .../members/{member_id}/transfers/{transfer_id}/cancellation`."""

    cancelled_on: IsoDate
    decision: DecisionBody | None = None


class RemovalBody(Body):
    """`POST .../members/{member_id}/removal`."""

    reason: RemovalReason
    effective_on: IsoDate
    decision: DecisionBody


class RestorationBody(Body):
    """`POST /v1/organizations/{code}/restorations`: membership restored after a wrongful removal."""

    national_id: NationalId
    restored_on: IsoDate
    decision: DecisionBody


def check_transfer_is_open(ledger: Ledger, code: str, member_id: UUID, transfer_id: UUID) -> None:
    """404 unless `transfer_id` is the member's open transfer.

    `Ledger.cancel_transfer` cancels whatever transfer the member has open; the client names one,
    and a stale name must not cancel a newer transfer.
    """
    transfer = ledger.organization(code).member(member_id).transfer
    if transfer is None or transfer.transfer_id != transfer_id:
        raise TransferNotFound(f"member {member_id} has no open transfer {transfer_id}")


def _admitted(found: Any, response: Response) -> dict[str, Any]:
    response.headers["Location"] = f"/v1/members/{found.member_id}"
    return {
        "member_id": found.member_id,
        "status": found.status.value,
        "probation_ends_on": found.probation_ends_on,
        "position": found.position,
    }


@router.post("/v1/organizations/{code}/admissions", status_code=201)
def admit(code: CodePath, body: AdmissionBody, response: Response, caller: Recorder, ledger: LedgerDep) -> dict[str, Any]:
    """Admit a person (kết nạp) to a cell on probation, or readmit a former member."""
    check_may_record(caller, ledger, [code])
    admission = ledger.admit(
        code, body.person.value(), body.admitted_on, body.decision.value(), caller.label, hard_area=body.hard_area
    )
    return _admitted(admission, response)


@router.post("/v1/organizations/{code}/members/{member_id}/confirmation")
def confirm_membership(
    code: CodePath, member_id: UUID, body: ConfirmationBody, caller: Recorder, ledger: LedgerDep
) -> dict[str, Any]:
    """Confirm a probationary member as official from the day probation ended."""
    check_may_record(caller, ledger, [code])
    confirmation = ledger.confirm_membership(code, member_id, body.decided_on, body.decision.value(), caller.label)
    return {
        "member_id": confirmation.member_id,
        "status": confirmation.status.value,
        "official_since": confirmation.official_since,
        "position": confirmation.position,
    }


@router.post("/v1/organizations/{code}/members/{member_id}/transfers", status_code=201)
def issue_transfer(
    code: CodePath, member_id: UUID, body: TransferBody, caller: Recorder, ledger: LedgerDep
) -> dict[str, Any]:
    """Issue a transfer of party activity, official or temporary, to any organization."""
    check_may_record(caller, ledger, [code])
    issued = ledger.issue_transfer(
        code, member_id, body.to, body.kind, body.issued_on, body.until, body.decision.value(), caller.label,
        purpose=body.purpose,
    )
    return {"transfer_id": issued.transfer_id, "position": issued.position}


@router.post("/v1/organizations/{to}/transfers/{transfer_id}/reception")
def receive_transfer(
    to: CodePath, transfer_id: UUID, body: ReceptionBody, caller: Recorder, ledger: LedgerDep
) -> dict[str, Any]:
    """The member presents the introduction letter at the destination."""
    check_may_record(caller, ledger, [to])
    recorded = ledger.receive_transfer(to, transfer_id, body.received_on, caller.label)
    return {"transfer_id": transfer_id, "position": recorded.position}


@router.post("/v1/organizations/{to}/transfers/{transfer_id}/return")
def end_temporary_transfer(
    to: CodePath, transfer_id: UUID, body: ReturnBody, caller: Recorder, ledger: LedgerDep
) -> dict[str, Any]:
    """A guest's temporary stay at the host ends; the member attends the home cell again."""
    check_may_record(caller, ledger, [to])
    recorded = ledger.end_temporary_transfer(to, transfer_id, body.returned_on, caller.label)
    return {"transfer_id": transfer_id, "position": recorded.position}


@router.post("/v1/organizations/{code}/members/{member_id}/transfers/{transfer_id}/cancellation")
def cancel_transfer(
    code: CodePath, member_id: UUID, transfer_id: UUID, body: CancellationBody, caller: Recorder, ledger: LedgerDep
) -> dict[str, Any]:
    """Cancel a transfer not yet received; the member stays on this roster."""
    check_may_record(caller, ledger, [code])
    check_transfer_is_open(ledger, code, member_id, transfer_id)
    recorded = ledger.cancel_transfer(
        code, member_id, body.cancelled_on, body.decision.value() if body.decision else None, caller.label
    )
    return {"member_id": member_id, "transfer_id": transfer_id, "position": recorded.position}


@router.post("/v1/organizations/{code}/members/{member_id}/removal")
def remove_member(
    code: CodePath, member_id: UUID, body: RemovalBody, caller: Recorder, ledger: LedgerDep
) -> dict[str, Any]:
    """Remove a member from the Party: expelled, delisted, voluntary exit or deceased."""
    check_may_record(caller, ledger, [code])
    recorded = ledger.remove_member(code, member_id, body.reason, body.effective_on, body.decision.value(), caller.label)
    return {"member_id": member_id, "status": "removed", "reason": body.reason.value, "position": recorded.position}


@router.post("/v1/organizations/{code}/restorations", status_code=201)
def restore_member(
    code: CodePath, body: RestorationBody, response: Response, caller: Recorder, ledger: LedgerDep
) -> dict[str, Any]:
    """Restore membership after a wrongful removal (phục hồi đảng tịch), onto this cell's roster."""
    check_may_record(caller, ledger, [code])
    restored = ledger.restore_member(code, body.national_id, body.restored_on, body.decision.value(), caller.label)
    return _admitted(restored, response)


@router.get("/v1/members/{member_id}")
def get_member(member_id: UUID, caller: MemberReader, read_models: ReadModelsDep) -> dict[str, Any]:
    """The member's current state and the timeline of every event about them, across organizations."""
    check_may_read_member(caller, read_models, member_id)
    found = read_models.member(member_id)
    if found is None:
        raise MemberNotFound(f"no member {member_id}")
    return shown_to(caller, found)  # type: ignore[no-any-return]


@router.get("/v1/members")
def find_members(national_id: NationalIdQuery, caller: MemberReader, read_models: ReadModelsDep) -> dict[str, Any]:
    """Find the member registered with a national ID (verification), within the caller's subtree."""
    found = [
        member
        for member in read_models.find_members(national_id)
        if caller.scope is None or read_models.is_within(member["cell"], caller.scope)
    ]
    return {"members": shown_to(caller, found)}
