"""Bearer tokens: administrators issue them, with a role, a scope and a label."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from domain.errors import InvalidValue, OrganizationNotFound
from service.auth import Admin, Role
from service.context import services
from service.fields import Body, Code, ShortText

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


class TokenRequest(Body):
    """`POST /v1/tokens`: an admin token has no scope; every other role needs one."""

    role: Role
    scope: Code | None = None
    label: ShortText


@router.post("", status_code=201)
def create_token(body: TokenRequest, request: Request, caller: Admin) -> dict[str, Any]:
    """Issue a token; its value is shown in this response and never again."""
    found = services(request)
    if body.role is Role.ADMIN and body.scope is not None:
        raise InvalidValue("scope", "an admin token covers everything and takes no scope")
    if body.role is not Role.ADMIN:
        if body.scope is None:
            raise InvalidValue("scope", f"a {body.role.value} token needs an organization code")
        try:
            found.ledger.organization(body.scope)
        except OrganizationNotFound:
            raise InvalidValue("scope", f"no organization with code {body.scope!r}") from None
    token = found.tokens.create(body.role, body.scope, body.label)
    return {"token": token, "role": body.role.value, "scope": body.scope, "label": body.label}
