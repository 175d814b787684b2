"""Bearer tokens, roles and scopes: who may record or read what.

Tokens are kept only as SHA-256 hashes in the `tokens` table, each with a role, a scope (an
organization code, or none for an administrator) and a label, which is what the ledger records as
`recorded_by` and what the logs show. A token's scope is the subtree under its organization.

Outside its scope a token gets 403 whether or not the organization exists, so a 403 never tells
a caller what lies outside its subtree; inside its scope an unknown organization is a 404.
Commands decide scope on the write side (`Ledger.lineage`, current right after a write), queries
on the read models (`is_within`), so each answers from the same side it then reads.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.errors import OrganizationNotFound, RuleBroken
from domain.ledger import Ledger
from projections.events import without_personal_data
from service.context import ReadSide, services
from service.problems import forbidden, unauthorized
from service.sql import SqlStore

TOKEN_PREFIX = "dv_"
BOOTSTRAP_LABEL = "admin"


class Role(str, Enum):
    """What a token is for."""

    ADMIN = "admin"
    CLERK = "clerk"
    READER = "reader"
    AUDITOR = "auditor"
    SUBSCRIBER = "subscriber"


class Permission(Enum):
    """A kind of request; each role is granted some."""

    RECORD = "record events"
    READ = "read organizations, rosters and reports"
    READ_MEMBERS = "read members"
    AUDIT = "read event trails"
    FEED = "follow the event feed"
    PERSONAL_DATA = "see personal data"
    MANAGE_TOKENS = "manage tokens"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CLERK: frozenset(
        {Permission.RECORD, Permission.READ, Permission.READ_MEMBERS, Permission.AUDIT, Permission.PERSONAL_DATA}
    ),
    Role.READER: frozenset({Permission.READ}),
    Role.AUDITOR: frozenset(
        {Permission.READ, Permission.READ_MEMBERS, Permission.AUDIT, Permission.PERSONAL_DATA}
    ),
    Role.SUBSCRIBER: frozenset({Permission.FEED}),
}


@dataclass(frozen=True)
class Caller:
    """The holder of a valid token."""

    role: Role
    scope: str | None
    label: str
    token_hash: str

    def may(self, permission: Permission) -> bool:
        """Whether the role grants this permission."""
        return permission in GRANTS[self.role]

    @property
    def sees_personal_data(self) -> bool:
        """Whether member data reaches this caller with national ID, birth date, ethnicity, religion."""
        return self.may(Permission.PERSONAL_DATA)


def hash_token(raw: str) -> str:
    """The form a token is stored and compared in."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenLabelTaken(RuleBroken):
    """Another token has this label."""

    code = "token-label-taken"
    title = "Another token has this label"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class TokenStore:
    """The `tokens` table: hashed tokens with their role, scope and label."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    def create_table(self) -> None:
        """Create the table if it is missing."""
        with self.sql.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS tokens ("
                " token_hash TEXT PRIMARY KEY,"
                " role TEXT NOT NULL,"
                " scope TEXT,"
                " label TEXT NOT NULL UNIQUE,"
                " created_at TEXT NOT NULL)"
            )

    def lookup(self, raw: str) -> Caller | None:
        """The caller holding this token, or None for an unknown token."""
        token_hash = hash_token(raw)
        with self.sql.transaction(write=False) as cur:
            row = cur.execute(
                "SELECT role, scope, label FROM tokens WHERE token_hash = ?", (token_hash,)
            ).one()
        if row is None:
            return None
        role, scope, label = row
        return Caller(Role(role), scope, label, token_hash)

    def create(self, role: Role, scope: str | None, label: str) -> str:
        """Issue a token; return it (the only time it is ever seen in the clear)."""
        raw = new_token()
        with self.sql.transaction() as cur:
            cur.execute(
                "INSERT INTO tokens (token_hash, role, scope, label, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (hash_token(raw), role.value, scope, label, _now()),
            )
            if cur.rowcount != 1:
                raise TokenLabelTaken(f"a token labelled {label!r} exists")
        return raw

    def ensure_bootstrap_admin(self, raw: str | None) -> str | None:
        """Make `raw` the bootstrap admin's token; without one, make a token once. Return a new token."""
        with self.sql.transaction() as cur:
            if raw is not None:
                # Rotating DANGVIEN_ADMIN_TOKEN retires the previous bootstrap token.
                cur.execute("DELETE FROM tokens WHERE label = ? AND token_hash <> ?", (BOOTSTRAP_LABEL, hash_token(raw)))
                cur.execute(
                    "INSERT INTO tokens (token_hash, role, scope, label, created_at) VALUES (?, ?, NULL, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (hash_token(raw), Role.ADMIN.value, BOOTSTRAP_LABEL, _now()),
                )
                return None
            if cur.execute("SELECT 1 FROM tokens WHERE label = ?", (BOOTSTRAP_LABEL,)).one() is not None:
                return None
            made = new_token()
            cur.execute(
                "INSERT INTO tokens (token_hash, role, scope, label, created_at) VALUES (?, ?, NULL, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (hash_token(made), Role.ADMIN.value, BOOTSTRAP_LABEL, _now()),
            )
            # Another process starting at the same moment may have made it first.
            return made if cur.rowcount == 1 else None


# --- FastAPI dependencies ------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="A token made by POST /v1/tokens")


def authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Caller:
    """The caller of this request; 401 without a known bearer token."""
    if credentials is None:
        raise unauthorized()
    state = request.scope.setdefault("state", {})
    caller = state.get("caller")
    if caller is None or caller.token_hash != hash_token(credentials.credentials):
        caller = services(request).tokens.lookup(credentials.credentials)
    if caller is None:
        raise unauthorized("the bearer token is not known")
    state["caller"] = caller
    state["token_label"] = caller.label
    return caller


def allowed(permission: Permission) -> Any:
    """A dependency giving the caller if its role grants `permission`, else 403."""

    def check(caller: Caller = Depends(authenticated)) -> Caller:
        if not caller.may(permission):
            raise forbidden(f"a {caller.role.value} token may not {permission.value}")
        return caller

    return Depends(check)


# --- scope ---------------------------------------------------------------------------------------


def check_may_record(caller: Caller, ledger: Ledger, codes: Iterable[str | None]) -> None:
    """403 unless every organization named (None: a new root) is in the caller's subtree now."""
    if caller.scope is None:
        return
    for code in codes:
        if code is None:
            raise forbidden("only an administrator may found a root organization")
        try:
            lineage = ledger.lineage(code)
        except OrganizationNotFound:
            # An unknown code is outside every subtree; saying "not found" would leak.
            lineage = []
        if caller.scope not in lineage:
            raise forbidden(f"the token's scope is {caller.scope}")


def check_may_read(caller: Caller, read_models: ReadSide, code: str) -> None:
    """403 unless the organization is in the caller's subtree, as the read models see it today."""
    if caller.scope is not None and not read_models.is_within(code, caller.scope):
        raise forbidden(f"the token's scope is {caller.scope}")


def check_may_read_member(caller: Caller, read_models: ReadSide, member_id: UUID) -> None:
    """403 unless the cell holding the member (now, or last) is in the caller's subtree."""
    if caller.scope is None:
        return
    cell = read_models.member_cell(member_id)
    if cell is None or not read_models.is_within(cell, caller.scope):
        raise forbidden(f"the token's scope is {caller.scope}")


def shown_to(caller: Caller, value: Any) -> Any:
    """Member data as this caller may see it: without personal data unless the role allows."""
    if caller.sees_personal_data:
        return value
    return without_personal_data(value)


# The caller of a route, once its role is checked.
Admin = Annotated[Caller, allowed(Permission.MANAGE_TOKENS)]
Recorder = Annotated[Caller, allowed(Permission.RECORD)]
Reader = Annotated[Caller, allowed(Permission.READ)]
MemberReader = Annotated[Caller, allowed(Permission.READ_MEMBERS)]
Auditor = Annotated[Caller, allowed(Permission.AUDIT)]
Subscriber = Annotated[Caller, allowed(Permission.FEED)]
