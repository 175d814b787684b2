"""Webhooks: register a URL for the feed's events, list and remove webhooks, follow their deliveries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AfterValidator, Field

from domain.errors import InvalidValue, OrganizationNotFound
from domain.ledger import Ledger
from service.auth import Caller, Subscriber
from service.context import MAX_POSITION, services
from service.feed import resolve_types
from service.fields import Body, Code, Flag, Text
from service.problems import forbidden, not_found
from service.webhooks import ID_PREFIX, MAX_URL_LENGTH, Webhook, WebhookStore, check_url

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Url = Annotated[
    str,
    Field(strict=True, min_length=1, max_length=MAX_URL_LENGTH, description="Where to POST the events (http or https)"),
    AfterValidator(check_url),
]
WebhookId = Annotated[str, Path(pattern=f"^{ID_PREFIX}[0-9a-f]{{16}}$", description="The webhook's id")]


class WebhookRequest(Body):
    """`POST /v1/webhooks`: where to send which events of which subtree."""

    url: Url
    types: list[Annotated[str, Field(strict=True, max_length=100)]] | None = Field(
        None, min_length=1, max_length=100, description="CloudEvents types to send (all when omitted)"
    )
    scope: Code | None = Field(None, description="The subtree whose events to send (the caller's by default)")
    description: Text | None = None
    personal_data: Flag = Field(False, description="Send national ID, birth date, ethnicity and religion")
    after: int | None = Field(None, ge=0, le=MAX_POSITION, description="Send the events after this position "
                              "(0: the whole history); by default only those recorded from now on")


def webhook_store(request: Request) -> WebhookStore:
    """The webhooks' tables."""
    found: WebhookStore = request.app.state.webhooks
    return found


def owned(store: WebhookStore, webhook_id: str, caller: Caller) -> Webhook:
    """The webhook if the caller registered it (any webhook for an administrator); else 404."""
    webhook = store.get(webhook_id)
    if webhook is None or (caller.scope is not None and webhook.owner != caller.label):
        raise not_found("webhook-not-found", f"no webhook {webhook_id}")
    return webhook


def check_scope(caller: Caller, ledger: Ledger, scope: str) -> None:
    """403 unless `scope` is in the caller's subtree now; 422 naming `scope` if no such organization.

    Judged on the write side, which is current the moment a command returns, so a webhook can be
    registered on an organization founded a moment ago.
    """
    try:
        lineage = ledger.lineage(scope)
    except OrganizationNotFound:
        if caller.scope is not None:
            # Saying "not found" would tell a scoped caller what lies outside its subtree.
            raise forbidden(f"the token's scope is {caller.scope}") from None
        raise InvalidValue("scope", f"no organization with code {scope!r}") from None
    if caller.scope is not None and caller.scope not in lineage:
        raise forbidden(f"the token's scope is {caller.scope}")


@router.post("", status_code=201)
def register(body: WebhookRequest, request: Request, response: Response, caller: Subscriber) -> dict[str, Any]:
    """Register a webhook; its signing secret is shown in this response and never again."""
    scope = body.scope if body.scope is not None else caller.scope
    if scope is not None:
        check_scope(caller, services(request).ledger, scope)
    if body.personal_data and not caller.sees_personal_data:
        raise forbidden(f"a {caller.role.value} token may not have personal data sent anywhere")
    types = resolve_types(body.types)
    after = body.after if body.after is not None else services(request).feed.head()
    webhook = webhook_store(request).create(
        body.url, types, scope, body.description, body.personal_data, caller.label, after
    )
    response.headers["Location"] = f"/v1/webhooks/{webhook.id}"
    return {**webhook.view(), "secret": webhook.secret}


@router.get("")
def list_webhooks(request: Request, caller: Subscriber) -> dict[str, Any]:
    """The caller's webhooks (every webhook, for an administrator)."""
    owner = None if caller.scope is None else caller.label
    return {"webhooks": [webhook.view() for webhook in webhook_store(request).all(owner)]}


@router.get("/{webhook_id}")
def show(webhook_id: WebhookId, request: Request, caller: Subscriber) -> dict[str, Any]:
    """One webhook: what it receives, its position and whether deliveries are failing."""
    return owned(webhook_store(request), webhook_id, caller).view()


@router.delete("/{webhook_id}", status_code=204)
def remove(webhook_id: WebhookId, request: Request, caller: Subscriber) -> Response:
    """Remove a webhook; nothing more is sent to it."""
    store = webhook_store(request)
    owned(store, webhook_id, caller)
    store.delete(webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
def deliveries(
    webhook_id: WebhookId,
    request: Request,
    caller: Subscriber,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="Deliveries of events after this position")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    status: Annotated[Literal["delivered", "failing"] | None, Query(description="Only deliveries in this state")] = None,
) -> dict[str, Any]:
    """The webhook's deliveries, oldest event first: status, attempts, next attempt, last response code."""
    store = webhook_store(request)
    owned(store, webhook_id, caller)
    found = store.deliveries(webhook_id, after, limit, status)
    return {"deliveries": found, "next_after": int(found[-1]["event_id"]) if found else after}
