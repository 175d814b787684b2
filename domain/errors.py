"""Domain errors: each has a stable machine-readable code that reaches clients unchanged.

A rule of the Party Charter that a command would break is a `RuleBroken` (HTTP 409), an unknown
thing is a `NotFound` (404), and a value that cannot be right whatever the state is an
`InvalidValue` (422). When any of them is raised nothing has been recorded.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the ledger reports to its callers."""

    code: str = "domain-error"
    title: str = "The command was refused"
    status: int = 409

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidValue(DomainError):
    """A field holds a value that is never acceptable."""

    code = "invalid-value"
    title = "Invalid value"
    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(DomainError):
    status = 404
    title = "Not found"


class OrganizationNotFound(NotFound):
    code = "organization-not-found"
    title = "Organization not found"


class MemberNotFound(NotFound):
    code = "member-not-found"
    title = "Member not found"


class TransferNotFound(NotFound):
    code = "transfer-not-found"
    title = "Transfer not found"


class RuleBroken(DomainError):
    """A rule of the Charter or of the ledger's integrity would be broken."""

    status = 409


def _rule(code: str, title: str) -> type[RuleBroken]:
    """Define a named RuleBroken subclass; the class name is the code in CamelCase."""
    name = "".join(part.capitalize() for part in code.split("-"))
    return type(name, (RuleBroken,), {"code": code, "title": title, "__doc__": title + "."})


# The tree of organizations.
OrganizationExists = _rule("organization-exists", "An organization with this code exists")
OrganizationNotActive = _rule(
    "organization-not-active", "The organization has been merged, split or dissolved"
)
KindNotAllowedUnderParent = _rule(
    "kind-not-allowed-under-parent", "This kind of organization cannot sit under that parent"
)
CycleInTree = _rule("cycle-in-tree", "An organization cannot sit under itself or its own subtree")
OrganizationNotEmpty = _rule(
    "organization-not-empty", "The organization still has members, guests, transfers or children"
)
AllocationIncomplete = _rule(
    "allocation-incomplete", "A split must allocate every member and child exactly once"
)
NotBeforeFounding = _rule(
    "date-before-founding", "The effective date is before the organization was founded"
)
StructureOutOfOrder = _rule(
    "structure-out-of-order",
    "A change to the tree cannot take effect before an earlier change of the same organization",
)
HoldsNoMembers = _rule(
    "organization-holds-no-members", "Only cells and grassroots cells keep members"
)

# Admission.
AlreadyAMember = _rule("already-a-member", "The person is already an active member")
TooYoung = _rule("too-young", "The person is under 18 years old at admission")
TooOld = _rule(
    "too-old", "The person is over 60 at admission and the decision is not a provincial one"
)
EducationTooLow = _rule(
    "education-too-low", "Lower-secondary education is required outside designated hard areas"
)
DecisionAfterEvent = _rule(
    "decision-after-effective-date", "The ceremony cannot come before the decision"
)
ReadmissionTooEarly = _rule(
    "readmission-too-early", "Readmission needs 36 months since leaving the Party"
)
ReadmissionUsed = _rule("readmission-already-used", "Readmission is allowed only once")
PersonDeceased = _rule("person-deceased", "The person is recorded as deceased")
NotRemoved = _rule("not-removed", "Only a person removed from the Party can be restored")

# Probation.
NotProbationary = _rule("not-probationary", "The member is not probationary")
ProbationNotEnded = _rule(
    "probation-not-ended", "Probation lasts 12 months; it has not ended on that date"
)

# Transfers.
TransferAlreadyOpen = _rule(
    "transfer-already-open", "The member already has an open transfer of party activity"
)
TransferToSameOrganization = _rule(
    "transfer-to-same-organization", "A transfer must go to another organization"
)
InvalidTransferDuration = _rule(
    "invalid-transfer-duration",
    "A temporary transfer lasts 3 to under 12 months (study: up to 24); an official one has no end",
)
TransferAlreadyReceived = _rule(
    "transfer-already-received", "The transfer has already been received"
)
NotTemporary = _rule("not-temporary", "Only a temporary transfer ends with a return")

# Any member event.
MemberRemoved = _rule("member-removed", "The member has left the Party")
OutOfOrder = _rule(
    "effective-date-out-of-order",
    "The effective date is before an event already recorded for this member",
)

DateInFuture = _rule(
    "date-in-future", "The ledger records what has happened: no event takes effect, and no decision is issued, after today"
)

ConcurrentModification = _rule(
    "concurrent-modification",
    "Others kept changing the same records; the command was not recorded, try again",
)
