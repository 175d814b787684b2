"""Rosters and reports (Form 1 and Form 2) from the read models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from domain.errors import InvalidValue, OrganizationNotActive
from service.auth import Reader, check_may_read
from service.context import ReadModelsDep, require_organization
from service.fields import IsoDate
from service.routes.organizations import AsOf, CodePath

router = APIRouter(prefix="/v1/organizations", tags=["reports"])

MAX_PAGE = 1000


@router.get(
    "/{code}/roster",
    response_model=None,
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
def roster(
    code: CodePath,
    caller: Reader,
    read_models: ReadModelsDep,
    as_of: AsOf = None,
    scope: Annotated[Literal["self", "subtree"], Query(description="This organization only, or its whole subtree")] = "self",
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE, description="At most this many members, for a page (all when omitted)")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Members skipped before the page")] = 0,
) -> StreamingResponse:
    """Who was on the roster on `as_of`; `total` counts the headcount, without temporary guests.
    Every member is listed unless the caller asks for a page (`limit`, `offset`)."""
    check_may_read(caller, read_models, code)
    day = as_of or date.today()
    require_organization(read_models, code, day)
    pieces = read_models.roster_pieces(code, day, scope, limit, offset)
    return StreamingResponse(as_json(next(pieces), "members", pieces), media_type="application/json")


def as_json(whole: dict[str, Any], key: str, items: Iterator[list[Any]]) -> Iterator[bytes]:
    """The JSON text of `whole`, with the list at `key` (empty in `whole`) written from `items`,
    a chunk at a time: a long roster is sent as it is read, never held whole."""
    assert whole[key] == []
    text = dumps(whole)
    marker = f'"{key}":[]'
    cut = text.index(marker) + len(marker) - 1
    yield text[:cut].encode()
    first = True
    for chunk in items:
        if chunk:
            body = dumps(chunk)[1:-1]
            yield (body if first else "," + body).encode()
            first = False
    yield text[cut:].encode()


def dumps(value: Any) -> str:
    """JSON as FastAPI writes it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@router.get("/{code}/report")
def report(
    code: CodePath,
    caller: Reader,
    read_models: ReadModelsDep,
    start: Annotated[IsoDate, Query(alias="from", description="First day of the period")],
    end: Annotated[IsoDate, Query(alias="to", description="Last day of the period")],
    restate: Annotated[bool, Query(description="Attribute history to today's successor units")] = False,
) -> dict[str, Any]:
    """Form 1 (increases and decreases) and Form 2 (new members) over the subtree, and for each child."""
    check_may_read(caller, read_models, code)
    if end < start:
        raise InvalidValue("to", "must not be before 'from'")
    if not restate:
        require_organization(read_models, code, end)
        return read_models.report(code, start, end, restate)
    # Restated onto today's organizations: a unit founded since (a commune committee of 2025)
    # carries the history of the units it took over, from before it existed; a unit that has
    # ended carries nothing any more, its successor does.
    today = read_models.today()
    organization = require_organization(read_models, code, today)
    if "ended_on" in organization:
        carrier = f", into {organization['successor']}" if organization.get("successor") else ""
        raise OrganizationNotActive(
            f"{code} was {organization['status']} on {organization['ended_on']}{carrier}: its history is "
            "restated onto the organizations that exist today; ask for their report"
        )
    return read_models.report(code, start, end, restate)
