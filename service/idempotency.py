"""`Idempotency-Key` on POST and PUT: a repeated request gets the first answer and records nothing.

The key is claimed by inserting its row before the command runs, so of two identical requests
arriving together only one reaches the ledger; the other waits for the first answer and replays
it. A key is owned by the token that used it. The same key with a different request (another
body, or another path) is refused with 409 `idempotency-key-reused`.

An answer is kept when it is final: 2xx, and 4xx refusals that would be refused again. A server
failure, a 503 or a lost race (`concurrent-modification`) releases the key so the client can retry.
`POST /v1/tokens` is left out: its answer is a token in the clear, which is never stored (a
repeated request is refused anyway, its label being taken).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import route_template
from service.problems import ProblemResponse, problem, replaying
from service.sql import SqlStore

HEADER = b"idempotency-key"
# Answers that must never be written down.
NOT_KEPT_PATHS = frozenset({"/v1/tokens"})
MAX_KEY_LENGTH = 255
# How long a duplicate waits for the first request to be answered before giving up.
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
# An unanswered claim older than this was left by a process that stopped mid-request.
ABANDONED_AFTER = timedelta(minutes=5)
# Response headers worth replaying: the rest are recomputed (request id, length).
KEPT_HEADERS = (b"content-type", b"location", b"retry-after")


@dataclass(frozen=True)
class Stored:
    """A finished answer kept under a key."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    route: str = "unmatched"


@dataclass(frozen=True)
class Claimed:
    """The key is new: run the request and keep its answer."""


@dataclass(frozen=True)
class Reused:
    """The key was used for another request."""


@dataclass(frozen=True)
class Pending:
    """The first request with this key is still running."""


Outcome = Stored | Claimed | Reused | Pending


def request_hash(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same: method, path and body (JSON compared by meaning)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        # Not JSON, or nested deeper than Python parses: compared byte for byte (the route refuses it).
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8", "surrogateescape"), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


class IdempotencyStore:
    """The `idempotency_keys` table."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    def create_table(self) -> None:
        """Create the table if it is missing."""
        with self.sql.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS idempotency_keys ("
                " owner TEXT NOT NULL,"
                " idempotency_key TEXT NOT NULL,"
                " request_hash TEXT NOT NULL,"
                " status INTEGER,"
                " headers TEXT,"
                " body TEXT,"
                " route TEXT,"
                " created_at TEXT NOT NULL,"
                " PRIMARY KEY (owner, idempotency_key))"
            )

    def purge(self, older_than: datetime) -> int:
        """Forget keys claimed before a moment; return how many."""
        with self.sql.transaction() as cur:
            # Timestamps are ISO 8601 in UTC, so text order is time order on both stores.
            cur.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (older_than.isoformat(),))
            return cur.rowcount

    def claim(self, owner: str, key: str, hashed: str) -> Outcome:
        """Claim the key for this request, or say what it already holds."""
        moment = datetime.now(timezone.utc)
        now = moment.isoformat()
        stale = (moment - ABANDONED_AFTER).isoformat()
        with self.sql.transaction() as cur:
            cur.execute(
                "INSERT INTO idempotency_keys (owner, idempotency_key, request_hash, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (owner, key, hashed, now),
            )
            if cur.rowcount == 1:
                return Claimed()
            row = cur.execute(
                "SELECT request_hash, status, headers, body, route FROM idempotency_keys "
                "WHERE owner = ? AND idempotency_key = ?",
                (owner, key),
            ).one()
            if row is not None and row[0] == hashed and row[1] is None:
                # A claim that old belongs to a process that died mid-request: take it over.
                cur.execute(
                    "UPDATE idempotency_keys SET created_at = ? "
                    "WHERE owner = ? AND idempotency_key = ? AND status IS NULL AND created_at < ?",
                    (now, owner, key, stale),
                )
                if cur.rowcount == 1:
                    return Claimed()
        if row is None:
            # Released between our insert and our read: the caller tries again.
            return Pending()
        stored_hash, status, headers, body, route = row
        if stored_hash != hashed:
            return Reused()
        if status is None:
            return Pending()
        return Stored(int(status), [tuple(h) for h in json.loads(headers)], body.encode("utf-8"), route)

    def keep(self, owner: str, key: str, answer: Stored) -> None:
        """Keep the final answer under the key."""
        with self.sql.transaction() as cur:
            cur.execute(
                "UPDATE idempotency_keys SET status = ?, headers = ?, body = ?, route = ? "
                "WHERE owner = ? AND idempotency_key = ?",
                (answer.status, json.dumps(answer.headers), answer.body.decode("utf-8"), answer.route, owner, key),
            )

    def release(self, owner: str, key: str) -> None:
        """Forget the key: the request did not reach a final answer."""
        with self.sql.transaction() as cur:
            cur.execute(
                "DELETE FROM idempotency_keys WHERE owner = ? AND idempotency_key = ? AND status IS NULL",
                (owner, key),
            )


def is_final(status: int, body: bytes) -> bool:
    """Whether an answer would be the same if the request ran again."""
    if status >= 500 or status in (401, 408, 413, 429):
        return False
    if status == 409:
        try:
            return json.loads(body).get("code") != "concurrent-modification"
        except (ValueError, AttributeError):
            return True
    return True


def _reused(key: str) -> ProblemResponse:
    return problem(
        409,
        "idempotency-key-reused",
        f"the Idempotency-Key {key!r} was used for a different request",
        title="Idempotency key reused",
    )


def _still_running(key: str) -> ProblemResponse:
    return problem(
        409,
        "idempotency-key-in-use",
        f"a request with the Idempotency-Key {key!r} is still being handled; try again",
        title="Idempotency key in use",
        headers={"Retry-After": "1"},
    )


def _bad_key() -> ProblemResponse:
    return problem(
        422,
        "invalid-value",
        f"Idempotency-Key: must be 1-{MAX_KEY_LENGTH} visible ASCII characters",
        title="Invalid value",
        field="Idempotency-Key",
    )


class IdempotencyMiddleware:
    """ASGI middleware applying `Idempotency-Key` to POST and PUT under /v1."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        raw_key = headers.get(HEADER)
        if (
            raw_key is None
            or scope["method"] not in ("POST", "PUT")
            or not scope["path"].startswith("/v1/")
            or scope["path"].rstrip("/") in NOT_KEPT_PATHS
        ):
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
            await _bad_key()(scope, receive, send)
            return
        found = scope["app"].state.services
        caller = await anyio.to_thread.run_sync(self._caller, found, headers)
        if caller is None:
            # Not authenticated: the route answers 401, and nothing is kept for an unknown token.
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {}).update(caller=caller, token_label=caller.label)
        body = await _read_body(receive)
        hashed = request_hash(scope["method"], scope["path"], body)
        store: IdempotencyStore = found.idempotency
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            outcome = await anyio.to_thread.run_sync(store.claim, caller.token_hash, key, hashed)
            if not isinstance(outcome, Pending):
                break
            if time.monotonic() > deadline:
                await _still_running(key)(scope, receive, send)
                return
            await anyio.sleep(POLL_SECONDS)
        if isinstance(outcome, Reused):
            await _reused(key)(scope, receive, send)
        elif isinstance(outcome, Stored):
            # The router never sees a replay; the log and metrics still name the route.
            scope["state"].update(replayed=True, route=outcome.route)
            await _replay(outcome, send)
        else:
            await self._run_once(scope, replaying(body, receive), send, store, caller.token_hash, key)

    @staticmethod
    def _caller(found: Any, headers: dict[bytes, bytes]) -> Any:
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return found.tokens.lookup(token.strip())

    async def _run_once(
        self, scope: Scope, receive: Receive, send: Send, store: IdempotencyStore, owner: str, key: str
    ) -> None:
        status = 500
        kept_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def capturing_send(message: Message) -> None:
            nonlocal status, kept_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                kept_headers = [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", ())
                    if name.lower() in KEPT_HEADERS
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capturing_send)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store.release, owner, key)
            raise
        body = b"".join(chunks)
        with anyio.CancelScope(shield=True):
            if is_final(status, body):
                answer = Stored(status, kept_headers, body, route_template(scope))
                await anyio.to_thread.run_sync(store.keep, owner, key, answer)
            else:
                await anyio.to_thread.run_sync(store.release, owner, key)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(answer: Stored, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    headers += [
        (b"content-length", str(len(answer.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})
