"""Audit trails and the event feed: paged CloudEvents and a server-sent event stream."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from domain.errors import InvalidValue
from service.auth import Auditor, Caller, Subscriber, check_may_read, shown_to
from service.context import MAX_POSITION, ReadModelsDep, ReadSide, require_organization, services
from service.feed import EVENT_TYPES, Feed, Page
from service.routes.organizations import CodePath

router = APIRouter(tags=["events"])

MAX_PAGE = 1000
# How much of the log one feed request may look through when few events match its filters.
SCAN_PER_REQUEST = 10_000
KEEPALIVE_SECONDS = 15.0

After = Annotated[int, Query(ge=0, le=MAX_POSITION, description="Events after this position")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Types = Annotated[
    list[str] | None,
    Query(description="Event types to include, comma-separated or repeated (e.g. MemberAdmitted)"),
]


def parse_types(types: list[str] | None) -> list[str] | None:
    """The event types asked for; 422 naming `types` for one the ledger does not record."""
    if not types:
        return None
    names = [name.strip() for value in types for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(EVENT_TYPES))
    if unknown:
        raise InvalidValue("types", f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
    return names or None


@dataclass(frozen=True)
class Audience:
    """Which events reach a caller: those of organizations in its subtree, up to a horizon."""

    within: Callable[[str], bool]
    horizon: Callable[[], int | None]


def audience(caller: Caller, read_models: ReadSide) -> Audience:
    """An administrator sees the whole log; a scoped caller sees its subtree as the read models know it.

    The subtree is judged by the read models, so a scoped caller is served only what they have
    applied: an event beyond their position could belong to an organization they do not know yet,
    and skipping it would leave a gap the client could never fill.
    """
    if caller.scope is None:
        return Audience(within=lambda code: True, horizon=lambda: None)
    scope = caller.scope
    return Audience(within=lambda code: read_models.is_within(code, scope), horizon=read_models.position)


@router.get("/v1/organizations/{code}/events")
def organization_events(
    code: CodePath, caller: Auditor, read_models: ReadModelsDep, after: After = 0, limit: Limit = 100
) -> dict[str, Any]:
    """The events recorded on an organization, oldest first (the audit trail)."""
    check_may_read(caller, read_models, code)
    # Any organization ever founded, ended or not, keeps its trail.
    require_organization(read_models, code, date.max)
    events = read_models.organization_events(code, after, limit)
    return {"events": shown_to(caller, events), "next_after": events[-1]["position"] if events else after}


@router.get("/v1/events")
def feed(
    request: Request,
    caller: Subscriber,
    read_models: ReadModelsDep,
    after: After = 0,
    limit: Limit = 100,
    types: Types = None,
) -> dict[str, Any]:
    """Events of the caller's subtree as CloudEvents, in global order, with the position to ask from next."""
    wanted = parse_types(types)
    reach = audience(caller, read_models)
    page = services(request).feed.page(after, limit, wanted, reach.within, SCAN_PER_REQUEST, reach.horizon())
    return {"events": shown_to(caller, page.events), "next_after": page.next_after}


@router.get("/v1/events/stream", response_class=StreamingResponse)
def stream(
    request: Request,
    caller: Subscriber,
    read_models: ReadModelsDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description="Start after this position")] = None,
    types: Types = None,
    last_event_id: Annotated[str | None, Header(description="The last position received")] = None,
) -> StreamingResponse:
    """The feed as server-sent events; reconnecting with Last-Event-ID resumes right after it."""
    wanted = parse_types(types)
    start = _resume_from(last_event_id, after)
    found = services(request)
    messages = _messages(
        found.feed,
        start,
        wanted,
        audience(caller, read_models),
        lambda events: shown_to(caller, events),
        poll=found.settings.stream_poll_seconds,
        lasting=found.settings.stream_max_seconds,
    )
    return StreamingResponse(
        messages,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _resume_from(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None:
        if not last_event_id.isdigit() or int(last_event_id) > MAX_POSITION:
            raise InvalidValue("Last-Event-ID", "must be a position (a whole number)")
        return int(last_event_id)
    return after or 0


async def _messages(
    feed_: Feed,
    after: int,
    types: list[str] | None,
    reach: Audience,
    shown: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    poll: float,
    lasting: float,
) -> AsyncIterator[str]:
    """SSE messages, one per event, with keep-alive comments; ends after `lasting` seconds."""
    yield f"retry: {int(poll * 1000) + 1000}\n\n"
    deadline = time.monotonic() + lasting
    quiet_since = time.monotonic()
    position = after
    while time.monotonic() < deadline:
        horizon = await anyio.to_thread.run_sync(reach.horizon)
        page: Page = await anyio.to_thread.run_sync(
            feed_.page, position, MAX_PAGE, types, reach.within, SCAN_PER_REQUEST, horizon
        )
        for event in shown(page.events):
            data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
            yield f"id: {event['id']}\nevent: {event['type']}\ndata: {data}\n\n"
        if page.events:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if page.next_after == position or not page.events:
            await anyio.sleep(poll)
        position = page.next_after
