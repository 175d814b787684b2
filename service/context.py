"""What a request handler may use, as FastAPI dependencies: the ledger, the read models, the rest.

The composition root (`service.app`) builds a `Services` once, in the lifespan, and keeps it on
the application's state; routes reach it only through the dependencies below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Protocol
from uuid import UUID

from fastapi import Depends, Query, Request

from domain.errors import OrganizationNotFound
from domain.ledger import Ledger
from service.problems import not_caught_up

if TYPE_CHECKING:
    from service.auth import TokenStore
    from service.feed import Feed
    from service.idempotency import IdempotencyStore
    from service.metrics import Metrics
    from service.settings import Settings
    from service.sql import SqlStore

# Positions are 64-bit on PostgreSQL; anything larger is malformed, not merely in the future.
MAX_POSITION = 2**63 - 1


class ReadSide(Protocol):
    """The read models as the service uses them (implemented by `projections.ReadModels`)."""

    def position(self) -> int: ...
    def wait_for(self, position: int, timeout: float) -> bool: ...
    def organization(self, code: str, as_of: date) -> dict[str, Any] | None: ...
    def is_within(self, code: str, scope: str) -> bool: ...
    def member_cell(self, member_id: UUID) -> str | None: ...
    def roster(self, code: str, as_of: date, scope: str, limit: int | None, offset: int) -> dict[str, Any]: ...
    def roster_pieces(self, code: str, as_of: date, scope: str, limit: int | None, offset: int) -> Iterator[Any]: ...
    def report(self, code: str, start: date, end: date, restate: bool) -> dict[str, Any]: ...
    def member(self, member_id: UUID) -> dict[str, Any] | None: ...
    def find_members(self, national_id: str) -> list[dict[str, Any]]: ...
    def organization_events(self, code: str, after: int, limit: int) -> list[dict[str, Any]]: ...
    def verification(self, code: str, scope: str, through: int) -> dict[str, Any]: ...
    def reader(self, min_position: int | None, timeout: float) -> ReadSide | None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class Services:
    """Everything built once per process by the composition root."""

    settings: Settings
    ledger: Ledger
    read_models: ReadSide
    sql: SqlStore
    tokens: TokenStore
    idempotency: IdempotencyStore
    feed: Feed
    metrics: Metrics


def services(request: Request) -> Services:
    """The services of the application serving this request."""
    found: Services = request.app.state.services
    return found


def ledger(request: Request) -> Ledger:
    """The write side."""
    return services(request).ledger


def read_models(
    request: Request,
    min_position: int | None = Query(
        None, ge=0, le=MAX_POSITION, description="Answer only once the read models have applied this position"
    ),
) -> ReadSide:
    """The read models, once they have applied `min_position` (503 with Retry-After if they do not in time).

    With a read replica configured, queries go to the replica, unless it has not yet replayed
    `min_position`; then the primary answers.
    """
    found = services(request)
    reader = found.read_models.reader(min_position, found.settings.read_wait_seconds)
    if reader is None:
        raise not_caught_up(min_position or 0, retry_after=1)
    return reader


LedgerDep = Annotated[Ledger, Depends(ledger)]
ReadModelsDep = Annotated[ReadSide, Depends(read_models)]


def require_organization(read_side: ReadSide, code: str, on: date) -> dict[str, Any]:
    """The organization as it stood on `on` in the read models; 404 if it did not exist then."""
    found = read_side.organization(code, on)
    if found is None:
        raise OrganizationNotFound(f"no organization with code {code!r} on {on}")
    return found
