"""Errors as `application/problem+json` (RFC 9457), in one place for the whole service.

Every refusal reaches the client as `{"type", "title", "status", "detail", "code"}` with a stable
`code`: domain errors keep the ledger's codes, malformed input is a 422 naming the field, and an
unexpected failure is a 500 that says only which request failed, never why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import DomainError, InvalidValue

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://dangvien.vn/problems/"
# Where a validation error's location starts with one of these, the rest names the field.
REQUEST_PARTS = ("body", "query", "path", "header", "cookie")

log = structlog.get_logger("dangvien.problems")


class ProblemResponse(JSONResponse):
    """A JSON response with the problem media type."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        # Vietnamese details stay readable; the header says the body is UTF-8 JSON.
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def problem(
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    """A problem+json response with a stable code."""
    body = {
        "type": TYPE_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


class HTTPProblem(Exception):
    """Raised by routes and dependencies for refusals that are not domain rules (401, 403, 503)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self) -> ProblemResponse:
        """The problem as a response."""
        return problem(self.status, self.code, self.detail, self.title, self.headers, **self.extra)


def unauthorized(detail: str = "a valid bearer token is required") -> HTTPProblem:
    """401: no token, or one the service does not know."""
    return HTTPProblem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> HTTPProblem:
    """403: the token's role or scope does not cover the request."""
    return HTTPProblem(403, "forbidden", detail)


def not_found(code: str, detail: str) -> HTTPProblem:
    """404 for a resource that is not a domain aggregate."""
    return HTTPProblem(404, code, detail)


def not_caught_up(position: int, retry_after: int) -> HTTPProblem:
    """503: the read models have not yet applied the position the client asked to read."""
    return HTTPProblem(
        503,
        "not-caught-up",
        f"the read models have not reached position {position} yet; try again",
        title="Read models are behind",
        headers={"Retry-After": str(retry_after)},
        min_position=position,
    )


def field_name(loc: Sequence[Any]) -> str:
    """`("body", "parts", 0, "into")` → `parts[0].into`; the request part is left out."""
    parts = list(loc)
    if parts and parts[0] in REQUEST_PARTS:
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or "body"


def _validation_problem(errors: Sequence[Mapping[str, Any]]) -> ProblemResponse:
    """422 naming every field at fault; the values sent are never echoed (they may be personal)."""
    fields = []
    malformed = False
    for error in errors:
        loc = tuple(error.get("loc", ()))
        kind = error.get("type", "")
        # The body as a whole is unusable (not JSON, not an object, absent), not one field wrong.
        body_level = kind == "json_invalid" or loc == ("body",)
        malformed = malformed or body_level
        name = "body" if body_level else field_name(loc)
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if kind == "json_invalid":
            message = "is not valid JSON"
        elif body_level and kind != "missing":
            message = "must be a JSON object"
        elif body_level:
            message = "is required"
        fields.append({"field": name, "message": message})
    first = fields[0] if fields else {"field": "body", "message": "is invalid"}
    code = "malformed-request" if malformed else "invalid-value"
    return problem(
        422,
        code,
        f"{first['field']}: {first['message']}",
        title="Malformed request" if malformed else "Invalid value",
        field=first["field"],
        errors=fields,
    )


async def _domain_error(request: Request, exc: Exception) -> Response:
    """The one handler for the ledger's refusals: 409 rule broken, 404 unknown, 422 invalid value."""
    assert isinstance(exc, DomainError)
    extra = {"field": exc.field} if isinstance(exc, InvalidValue) else {}
    return problem(exc.status, exc.code, exc.detail, exc.title, **extra)


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _validation_problem(exc.errors())


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return exc.response()


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals: unknown route (404), wrong method (405), unreadable body (400)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI answers 400 when the body is not UTF-8 or holds a number too long to read.
        return problem(422, "malformed-request", "body: is not valid JSON", title="Malformed request", field="body")
    status = HTTPStatus(exc.status_code)
    code = {404: "not-found", 405: "method-not-allowed"}.get(
        exc.status_code, status.phrase.lower().replace(" ", "-")
    )
    detail = exc.detail if isinstance(exc.detail, str) else status.description
    return problem(exc.status_code, code, detail, headers=exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every refusal into problem+json."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(HTTPProblem, _http_problem)
    app.add_exception_handler(StarletteHTTPException, _http_exception)


def internal_error(request_id: str | None) -> ProblemResponse:
    """500 that names the request, so the logs can be searched, and says nothing else."""
    return problem(
        500,
        "internal-error",
        "the service failed to handle the request; its request id names it in the service logs",
        title="Internal error",
        request_id=request_id,
    )


class CatchAll:
    """ASGI middleware: any unexpected exception becomes a 500 problem and one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error")
            if not started:
                request_id = scope.get("state", {}).get("request_id")
                await internal_error(request_id)(scope, receive, send)


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over a size with 413 before anything parses them.

    The body is read here in full (it is small by then) and handed on as one message, so a
    chunked upload cannot grow past the limit inside a parser that would report it differently.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away before finishing the body: nothing to answer.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    def _too_large(self) -> ProblemResponse:
        return problem(413, "request-too-large", f"the body must be at most {self.max_bytes} bytes")


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the already-read body once, then waits on the client as usual."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
