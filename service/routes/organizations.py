"""Organizations: founding, the tree as it stood on a day, restructurings and admission plans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field, StrictInt

from domain.errors import InvalidValue
from domain.ledger import Ledger, Recorded
from domain.values import CODE_PATTERN, Kind
from service.auth import Reader, Recorder, check_may_read, check_may_record
from service.context import LedgerDep, ReadModelsDep, require_organization
from service.fields import Body, Code, DecisionBody, IsoDate, Text

router = APIRouter(prefix="/v1/organizations", tags=["organizations"])

CodePath = Annotated[str, Path(pattern=CODE_PATTERN.pattern, max_length=64, description="Organization code")]
AsOf = Annotated[IsoDate | None, Query(description="The day to look at (YYYY-MM-DD); today by default")]


class Founding(Body):
    """`POST /v1/organizations`."""

    code: Code
    name: Text
    kind: Kind
    parent: Code | None
    founded_on: IsoDate
    decision: DecisionBody | None = None


class SplitPart(Body):
    """One successor of a split and what it receives."""

    into: Code
    members: list[UUID] = []
    children: list[Code] = []


class Restructuring(Body):
    """`POST /v1/organizations/{code}/restructurings`: which fields are needed depends on `action`."""

    action: Literal["rename", "reparent", "merge", "split", "dissolve"]
    effective_on: IsoDate
    decision: DecisionBody
    new_name: Text | None = None
    new_parent: Code | None = None
    into: Code | None = None
    parts: list[SplitPart] | None = None

    def required(self, field: str) -> Any:
        """The value of a field this action needs; 422 naming it when it is missing."""
        value = getattr(self, field)
        if value is None:
            raise InvalidValue(field, f"is required to {self.action}")
        return value

    def others_involved(self) -> list[str]:
        """The other organizations the action changes, which must also be in the caller's scope."""
        named = {"reparent": [self.new_parent], "merge": [self.into]}.get(self.action, [])
        if self.action == "split":
            named = [part.into for part in self.parts or []]
        return [code for code in named if code is not None]

    def split_parts(self) -> dict[str, dict[str, list[str]]]:
        """The parts of a split, as the ledger takes them."""
        parts: list[SplitPart] = self.required("parts")
        shares: dict[str, dict[str, list[str]]] = {}
        for part in parts:
            if part.into in shares:
                raise InvalidValue("parts", f"{part.into} is named twice")
            shares[part.into] = {"members": [str(m) for m in part.members], "children": list(part.children)}
        return shares


class Plan(Body):
    """`PUT /v1/organizations/{code}/plans/{period}`: the admissions target (chỉ tiêu)."""

    # A target above a million is a typo, not a plan, and a huge number would not fit a column.
    admissions: Annotated[StrictInt, Field(ge=0, le=1_000_000)]


RESTRUCTURINGS: dict[str, Callable[[Ledger, str, Restructuring, str], Recorded]] = {
    "rename": lambda ledger, code, body, by: ledger.rename_organization(
        code, body.required("new_name"), body.effective_on, body.decision.value(), by
    ),
    "reparent": lambda ledger, code, body, by: ledger.reparent_organization(
        code, body.required("new_parent"), body.effective_on, body.decision.value(), by
    ),
    "merge": lambda ledger, code, body, by: ledger.merge_organization(
        code, body.required("into"), body.effective_on, body.decision.value(), by
    ),
    "split": lambda ledger, code, body, by: ledger.split_organization(
        code, body.split_parts(), body.effective_on, body.decision.value(), by
    ),
    "dissolve": lambda ledger, code, body, by: ledger.dissolve_organization(
        code, body.effective_on, body.decision.value(), by
    ),
}


@router.post("", status_code=201)
def found_organization(body: Founding, response: Response, caller: Recorder, ledger: LedgerDep) -> dict[str, Any]:
    """Found an organization (thành lập) under a parent, or as a root (administrators only)."""
    check_may_record(caller, ledger, [body.parent])
    recorded = ledger.found_organization(
        body.code,
        body.name,
        body.kind,
        body.parent,
        body.founded_on,
        body.decision.value() if body.decision else None,
        caller.label,
    )
    response.headers["Location"] = f"/v1/organizations/{body.code}"
    return {"code": body.code, "position": recorded.position}


@router.get("/{code}")
def get_organization(code: CodePath, caller: Reader, read_models: ReadModelsDep, as_of: AsOf = None) -> dict[str, Any]:
    """The organization as the tree stood on `as_of`: name, kind, parent, status and children."""
    check_may_read(caller, read_models, code)
    return require_organization(read_models, code, as_of or date.today())


@router.post("/{code}/restructurings")
def restructure(code: CodePath, body: Restructuring, caller: Recorder, ledger: LedgerDep) -> dict[str, Any]:
    """Rename, reparent, merge, split or dissolve an organization, by a decision."""
    check_may_record(caller, ledger, [code, *body.others_involved()])
    recorded = RESTRUCTURINGS[body.action](ledger, code, body, caller.label)
    return {"code": code, "action": body.action, "position": recorded.position}


@router.put("/{code}/plans/{period}")
def set_plan(
    code: CodePath,
    period: Annotated[str, Path(max_length=9, description="A year (2022) or a term (2020-2025)")],
    body: Plan,
    caller: Recorder,
    ledger: LedgerDep,
) -> dict[str, Any]:
    """Set or revise the admissions target for a year or a congress term."""
    check_may_record(caller, ledger, [code])
    recorded = ledger.set_plan(code, period, body.admissions, caller.label)
    return {"organization": code, "period": period, "admissions": body.admissions, "position": recorded.position}
