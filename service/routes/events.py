"""Audit trails and the event feed: paged CloudEvents, a server-sent event stream, its AsyncAPI document."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request

from domain.errors import InvalidValue
from service.asyncapi import asyncapi_document
from service.auth import Auditor, Subscriber, check_may_read, shown_to
from service.context import MAX_POSITION, ReadModelsDep, require_organization, services
from service.feed import resolve_types
from service.routes.organizations import CodePath
from service.stream import EventStreamResponse, LogWatcher, event_stream

router = APIRouter(tags=["events"])

MAX_PAGE = 1000

After = Annotated[int, Query(ge=0, le=MAX_POSITION, description="Events after this position")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Types = Annotated[
    list[str] | None,
    Query(
        description="CloudEvents types to include (e.g. vn.dangvien.member.admitted, or the class name "
        "MemberAdmitted), comma-separated or repeated"
    ),
]


def watcher(request: Request) -> LogWatcher:
    """The process's follower of the log's head."""
    found: LogWatcher = request.app.state.watcher
    return found


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


@router.get("/v1/organizations/{code}/verification")
def verification(
    code: CodePath,
    caller: Auditor,
    read_models: ReadModelsDep,
    scope: Annotated[
        Literal["self", "subtree"], Query(description="This organization's stream, or every stream of its subtree")
    ] = "self",
    through: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="Events up to this position (default: every event applied so far)"),
    ] = None,
) -> dict[str, Any]:
    """Proof that no record was altered: a SHA-256 digest chained over every stored event of each
    stream, and checks that each stream is whole (versions without a gap, every event readable).
    The digest through a position never changes while the records are untouched: keep it, and ask
    again with the same `through` to prove that nothing recorded up to then was altered since."""
    check_may_read(caller, read_models, code)
    require_organization(read_models, code, date.max)
    applied = read_models.position()
    if through is None:
        through = applied
    elif through > applied:
        raise InvalidValue("through", f"must not be after {applied}, the last position applied (add min_position)")
    return read_models.verification(code, scope, through)


@router.get("/v1/events")
def feed(
    request: Request,
    caller: Subscriber,
    read_models: ReadModelsDep,
    after: After = 0,
    limit: Limit = 100,
    types: Types = None,
) -> dict[str, Any]:
    """Events recorded in the caller's subtree as CloudEvents, in global order, with the position
    to ask from next (an empty page whose `next_after` moved had nothing for the caller there)."""
    page = services(request).feed.page(after, limit, resolve_types(types), caller.scope)
    return {"events": shown_to(caller, page.events), "next_after": page.next_after}


@router.get("/v1/events/stream", response_class=EventStreamResponse)
def stream(
    request: Request,
    caller: Subscriber,
    read_models: ReadModelsDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description="Start after this position")] = None,
    types: Types = None,
    last_event_id: Annotated[
        str | None, Header(description="The last position received; the stream resumes right after it")
    ] = None,
) -> EventStreamResponse:
    """The feed as server-sent events (`id` the position), with a comment as heartbeat when quiet;
    reconnecting with Last-Event-ID resumes right after it."""
    settings = services(request).settings
    messages = event_stream(
        services(request).feed,
        watcher(request),
        resume_from(last_event_id, after),
        resolve_types(types),
        caller.scope,
        lambda events: shown_to(caller, events),
        heartbeat=settings.stream_heartbeat_seconds,
        lasting=settings.stream_max_seconds,
        retry_ms=int(settings.stream_poll_seconds * 1000) + 1000,
    )
    return EventStreamResponse(messages)


def resume_from(last_event_id: str | None, after: int | None) -> int:
    """Where a stream starts: after Last-Event-ID, else after `after`, else at the beginning."""
    if last_event_id is not None:
        # ASCII digits only: `str.isdigit` also takes superscripts, which `int` then refuses.
        digits = last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= len(str(MAX_POSITION))
        if not digits or int(last_event_id) > MAX_POSITION:
            raise InvalidValue("Last-Event-ID", "must be a position (a whole number)")
        return int(last_event_id)
    return after or 0


@router.get("/asyncapi.json", include_in_schema=False)
def asyncapi(request: Request) -> dict[str, Any]:
    """The AsyncAPI 3.0 description of the event stream and the webhooks (beside /openapi.json)."""
    return asyncapi_document(str(request.base_url))
