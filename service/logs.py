"""Structured JSON logs: one line per request, and never a person's data in any line.

Both structlog and the standard library (uvicorn, eventsourcing, the projections) end in the same
formatter, whose last step before rendering redacts personal data wherever it sits in the event.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TextIO

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Keys whose values identify or profile a person; their values never reach a log line.
PERSONAL_KEYS = frozenset({"national_id", "birth_date", "religion", "ethnicity", "full_name"})
REDACTED = "[redacted]"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HANDLER_NAME = "dangvien-json"

log = structlog.get_logger("dangvien.access")


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k in PERSONAL_KEYS else _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redacted(v) for v in value]
    return value


def redact_personal_data(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: replace the value of every personal-data key, at any depth."""
    return _redacted(event_dict)  # type: ignore[no-any-return]


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The formatter every log record goes through: timestamp, level, redaction, one JSON line."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_personal_data,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
    )


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send structlog and standard-library logs as JSON lines to `stream` (stdout by default)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    # Configuring twice (tests build many apps) replaces our handler instead of adding another.
    for existing in list(root.handlers):
        if existing.get_name() == HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # These log raw URLs, query strings included (a national ID can be one); ours logs routes.
    logging.getLogger("uvicorn.access").disabled = True
    for client_logger in ("httpx", "httpcore"):
        logging.getLogger(client_logger).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Loggers are made before configuration (module level); caching would freeze the defaults.
        cache_logger_on_first_use=False,
    )


class RequestObserver(Protocol):
    """Something told about every finished request (the metrics)."""

    def observe_request(self, method: str, route: str, status: int, seconds: float, replayed: bool) -> None: ...


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v1/members/{member_id}`), never the raw path."""
    named = scope.get("state", {}).get("route")
    if isinstance(named, str):
        return named
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class AccessLog:
    """ASGI middleware: a request id for every request, and one log line when it is answered."""

    def __init__(self, app: ASGIApp, observer: Callable[[], RequestObserver | None] = lambda: None) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers", ()))
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if REQUEST_ID.match(offered) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = route_template(scope)
                replayed = bool(state.get("replayed"))
                fields: dict[str, Any] = {
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "token": state.get("token_label"),
                }
                if replayed:
                    fields["replayed"] = True
                log.info("request", **fields)
                observer = self.observer()
                if observer is not None:
                    observer.observe_request(scope["method"], route, status, seconds, replayed)
