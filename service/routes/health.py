"""Liveness, readiness and metrics, for the orchestrator and Prometheus (no token needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from service.context import services
from service.metrics import CONTENT_TYPE
from service.problems import HTTPProblem

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict[str, Any]:
    """The store answers, the read models are within `ready_max_lag` events of the log's head and
    the event feed has read the tree."""
    found = services(request)
    try:
        found.sql.ping()
        head = found.feed.head()
        position = found.read_models.position()
    except Exception as failure:
        raise HTTPProblem(503, "store-unreachable", f"the store did not answer ({type(failure).__name__})") from None
    lag = max(0, head - position)
    if lag > found.settings.ready_max_lag:
        raise HTTPProblem(
            503,
            "read-models-behind",
            f"the read models are {lag} events behind the log",
            headers={"Retry-After": "5"},
            head=head,
            position=position,
        )
    if not found.feed.ready:
        # The feed reads every organization's place in the tree from the log when the service
        # starts (a second or two at a tenth of the country); taking commands meanwhile shares
        # the interpreter with that work and makes the first ones several times slower.
        raise HTTPProblem(
            503,
            "feed-starting",
            "the event feed is still reading the tree's history from the log",
            headers={"Retry-After": "1"},
        )
    return {"status": "ready", "head": head, "position": position, "lag": lag}


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(services(request).metrics.render(), media_type=CONTENT_TYPE)
