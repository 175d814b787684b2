"""Webhooks: the feed pushed to subscribers' URLs, signed as the Standard Webhooks spec says.

Each webhook has its own cursor (`position`) in the `webhooks` table: every event of its types and
scope up to there has been delivered. Deliveries go out one at a time per webhook, oldest first;
a failed one is retried, with exponential backoff and jitter, until the endpoint takes it, and
only then does the cursor move past it. So a failing endpoint holds up only itself and loses
nothing, and a process that stops (or dies) leaves the cursor where the next one resumes: an event
may then be delivered twice, always with the same `webhook-id` (at least once, as the spec allows).

A process delivers to a webhook only while it holds the webhook's lease (`leased_by`,
`lease_until`), so several `dangvien serve` replicas can run dispatchers over the same tables.

Each request is `POST url` with the CloudEvent as body (`application/cloudevents+json`) and the
headers `webhook-id` (`msg_<webhook>_<position>`, the same on every retry), `webhook-timestamp`
(Unix seconds of this attempt) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
`{webhook-id}.{webhook-timestamp}.{body}` keyed with the secret's decoded bytes). The secret is
kept in the clear in the database: the dispatcher needs it to sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from projections.events import without_personal_data
from service.feed import Feed
from service.sql import SqlStore

log = structlog.get_logger("dangvien.webhooks")

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ID_PREFIX = "wh_"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "dangvien-webhooks/1.0"
MAX_URL_LENGTH = 2000
# Events read from the feed for one webhook at a time.
PAGE = 50
# How long one worker stays with one webhook before letting the others have a turn.
SLICE_SECONDS = 2.0
# The dispatcher looks for due webhooks at least this often.
TICK_SECONDS = 0.5
# Delivered rows are listed for this long, then forgotten.
KEEP_DELIVERED_SECONDS = 30 * 86400


def new_secret() -> str:
    """A signing secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The bytes an HMAC is keyed with: the secret without its prefix, base64-decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def message_id(webhook_id: str, position: int) -> str:
    """The `webhook-id` of an event's delivery to a webhook: the same on every retry."""
    return f"msg_{webhook_id.removeprefix(ID_PREFIX)}_{position}"


def retry_delay(failures: int, first: float, longest: float, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after `failures` failed ones: doubling from `first` up to
    `longest`, then a random half of it taken off (so endpoints that fail together do not retry together)."""
    delay = min(longest, first * 2 ** min(failures - 1, 40))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def check_url(url: str) -> str:
    """An http:// or https:// URL with a host; ValueError says what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    try:
        parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    return url


def rfc3339(moment: float | None) -> str | None:
    """A Unix time as RFC 3339 in UTC (None stays None)."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Webhook:
    """A registered URL with what it receives and where its deliveries stand."""

    id: str
    url: str
    types: frozenset[str] | None
    scope: str | None
    description: str | None
    personal_data: bool
    secret: str
    owner: str
    created_at: float
    position: int
    retry_at: float | None

    def view(self) -> dict[str, Any]:
        """The webhook as the API shows it (never its secret)."""
        return {
            "id": self.id,
            "url": self.url,
            "types": sorted(self.types) if self.types is not None else None,
            "scope": self.scope,
            "description": self.description,
            "personal_data": self.personal_data,
            "created_by": self.owner,
            "created_at": rfc3339(self.created_at),
            "position": self.position,
            "status": "failing" if self.retry_at is not None else "active",
            "next_attempt_at": rfc3339(self.retry_at),
        }


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a 2xx, another status, or no answer at all."""

    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """Whether the endpoint took the event."""
        return self.status_code is not None and 200 <= self.status_code < 300


COLUMNS = "webhook_id, url, types, scope, description, personal_data, secret, owner, created_at, position, retry_at"
DELIVERY_COLUMNS = (
    "position, message_id, type, status, attempts, first_attempt_at, last_attempt_at, next_attempt_at, "
    "last_response_code, last_error, delivered_at"
)


def _webhook(row: tuple[Any, ...]) -> Webhook:
    webhook_id, url, types, scope, description, personal, secret, owner, created_at, position, retry_at = row
    return Webhook(
        webhook_id, url, frozenset(json.loads(types)) if types is not None else None, scope, description,
        bool(personal), secret, owner, float(created_at), int(position),
        float(retry_at) if retry_at is not None else None,
    )


class WebhookStore:
    """The `webhooks` and `webhook_deliveries` tables."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    def create_tables(self) -> None:
        """Create the tables if they are missing."""
        with self.sql.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS webhooks ("
                " webhook_id TEXT PRIMARY KEY,"
                " url TEXT NOT NULL,"
                " types TEXT,"
                " scope TEXT,"
                " description TEXT,"
                " personal_data INTEGER NOT NULL,"
                " secret TEXT NOT NULL,"
                " owner TEXT NOT NULL,"
                " created_at DOUBLE PRECISION NOT NULL,"
                " position BIGINT NOT NULL,"
                " retry_at DOUBLE PRECISION,"
                " leased_by TEXT,"
                " lease_until DOUBLE PRECISION)"
            )
            cur.execute(
                "CREATE TABLE IF NOT EXISTS webhook_deliveries ("
                " webhook_id TEXT NOT NULL,"
                " position BIGINT NOT NULL,"
                " message_id TEXT NOT NULL,"
                " type TEXT NOT NULL,"
                " status TEXT NOT NULL,"
                " attempts INTEGER NOT NULL,"
                " first_attempt_at DOUBLE PRECISION NOT NULL,"
                " last_attempt_at DOUBLE PRECISION NOT NULL,"
                " next_attempt_at DOUBLE PRECISION,"
                " last_response_code INTEGER,"
                " last_error TEXT,"
                " delivered_at DOUBLE PRECISION,"
                " PRIMARY KEY (webhook_id, position))"
            )

    # --- the API's side ---------------------------------------------------------------------------

    def create(
        self,
        url: str,
        types: frozenset[str] | None,
        scope: str | None,
        description: str | None,
        personal_data: bool,
        owner: str,
        after: int,
    ) -> Webhook:
        """Register a webhook that receives the events after position `after`."""
        webhook = Webhook(
            ID_PREFIX + secrets.token_hex(8), url, types, scope, description, personal_data, new_secret(),
            owner, time.time(), after, None,
        )
        with self.sql.transaction() as cur:
            cur.execute(
                f"INSERT INTO webhooks ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    webhook.id, url, json.dumps(sorted(types)) if types is not None else None, scope,
                    description, int(personal_data), webhook.secret, owner, webhook.created_at, after, None,
                ),
            )
        return webhook

    def get(self, webhook_id: str) -> Webhook | None:
        """The webhook, or None."""
        with self.sql.transaction(write=False) as cur:
            row = cur.execute(f"SELECT {COLUMNS} FROM webhooks WHERE webhook_id = ?", (webhook_id,)).one()
        return _webhook(row) if row is not None else None

    def all(self, owner: str | None = None) -> list[Webhook]:
        """Every webhook (of one owner), oldest first."""
        where, params = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        with self.sql.transaction(write=False) as cur:
            cur.execute(f"SELECT {COLUMNS} FROM webhooks {where} ORDER BY created_at, webhook_id", params)
            return [_webhook(tuple(row)) for row in cur.raw.fetchall()]

    def delete(self, webhook_id: str) -> None:
        """Forget the webhook and its deliveries; nothing more is sent to it."""
        with self.sql.transaction() as cur:
            cur.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
            cur.execute("DELETE FROM webhooks WHERE webhook_id = ?", (webhook_id,))

    def deliveries(self, webhook_id: str, after: int, limit: int, status: str | None) -> list[dict[str, Any]]:
        """The webhook's deliveries after a position, oldest first."""
        where = "webhook_id = ? AND position > ?" + (" AND status = ?" if status else "")
        params: tuple[Any, ...] = (webhook_id, after, status) if status else (webhook_id, after)
        with self.sql.transaction(write=False) as cur:
            cur.execute(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where} ORDER BY position LIMIT ?",
                        (*params, limit))
            rows = cur.raw.fetchall()
        return [
            {
                "event_id": str(position),
                "webhook_id": msg_id,
                "type": event_type,
                "status": status_,
                "attempts": attempts,
                "first_attempt_at": rfc3339(first),
                "last_attempt_at": rfc3339(last),
                "next_attempt_at": rfc3339(next_at),
                "last_response_code": code,
                "last_error": error,
                "delivered_at": rfc3339(delivered),
            }
            for position, msg_id, event_type, status_, attempts, first, last, next_at, code, error, delivered in rows
        ]

    # --- the dispatcher's side --------------------------------------------------------------------

    def due(self, head: int, now: float, worker: str) -> list[str]:
        """Webhooks behind the head, not waiting to retry, and not leased to another process."""
        with self.sql.transaction(write=False) as cur:
            cur.execute(
                "SELECT webhook_id FROM webhooks WHERE position < ? AND (retry_at IS NULL OR retry_at <= ?) "
                "AND (leased_by IS NULL OR leased_by = ? OR lease_until < ?) ORDER BY COALESCE(retry_at, 0), webhook_id",
                (head, now, worker, now),
            )
            return [row[0] for row in cur.raw.fetchall()]

    def lease(self, webhook_id: str, worker: str, now: float, until: float) -> Webhook | None:
        """Take (or keep) the webhook for this process until `until`; None if another has it or it is gone."""
        with self.sql.transaction() as cur:
            cur.execute(
                "UPDATE webhooks SET leased_by = ?, lease_until = ? "
                "WHERE webhook_id = ? AND (leased_by IS NULL OR leased_by = ? OR lease_until < ?)",
                (worker, until, webhook_id, worker, now),
            )
            if cur.rowcount != 1:
                return None
            row = cur.execute(f"SELECT {COLUMNS} FROM webhooks WHERE webhook_id = ?", (webhook_id,)).one()
        return _webhook(row) if row is not None else None

    def skip_to(self, webhook_id: str, position: int, worker: str) -> None:
        """Move the cursor over events that were not for this webhook."""
        with self.sql.transaction() as cur:
            cur.execute(
                "UPDATE webhooks SET position = ? WHERE webhook_id = ? AND leased_by = ? AND position < ?",
                (position, webhook_id, worker, position),
            )

    def record(
        self,
        webhook_id: str,
        position: int,
        event_type: str,
        outcome: Outcome,
        now: float,
        worker: str,
        lease_until: float,
        delay: Callable[[int], float],
    ) -> bool:
        """Write down an attempt; past a delivered event the cursor moves, else the retry is scheduled.

        False if the lease was lost or the webhook deleted meanwhile (nothing is written then).
        """
        with self.sql.transaction() as cur:
            row = cur.execute(
                "SELECT attempts FROM webhook_deliveries WHERE webhook_id = ? AND position = ?", (webhook_id, position)
            ).one()
            attempts = (int(row[0]) if row is not None else 0) + 1
            delivered = outcome.delivered
            next_at = None if delivered else now + delay(attempts)
            if delivered:
                cur.execute(
                    "UPDATE webhooks SET position = CASE WHEN position < ? THEN ? ELSE position END, "
                    "retry_at = NULL, lease_until = ? WHERE webhook_id = ? AND leased_by = ?",
                    (position, position, lease_until, webhook_id, worker),
                )
            else:
                cur.execute(
                    "UPDATE webhooks SET retry_at = ?, lease_until = ? WHERE webhook_id = ? AND leased_by = ?",
                    (next_at, lease_until, webhook_id, worker),
                )
            if cur.rowcount != 1:
                return False
            status = "delivered" if delivered else "failing"
            delivered_at = now if delivered else None
            if row is None:
                cur.execute(
                    f"INSERT INTO webhook_deliveries (webhook_id, {DELIVERY_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (webhook_id, position, message_id(webhook_id, position), event_type, status, attempts, now, now,
                     next_at, outcome.status_code, outcome.error, delivered_at),
                )
            else:
                cur.execute(
                    "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_attempt_at = ?, next_attempt_at = ?, "
                    "last_response_code = ?, last_error = ?, delivered_at = ? WHERE webhook_id = ? AND position = ?",
                    (status, attempts, now, next_at, outcome.status_code, outcome.error, delivered_at,
                     webhook_id, position),
                )
        return True

    def release(self, worker: str) -> None:
        """Give up every lease this process holds (it is stopping)."""
        with self.sql.transaction() as cur:
            cur.execute("UPDATE webhooks SET leased_by = NULL, lease_until = NULL WHERE leased_by = ?", (worker,))

    def purge(self, before: float) -> int:
        """Forget deliveries made before a moment; return how many."""
        with self.sql.transaction() as cur:
            cur.execute("DELETE FROM webhook_deliveries WHERE status = 'delivered' AND delivered_at < ?", (before,))
            return cur.rowcount


@dataclass(frozen=True)
class DeliveryPolicy:
    """How long to wait for an endpoint, how to space retries, how long a lease lasts, how many at once."""

    timeout: float
    first_retry: float
    longest_retry: float
    lease: float
    workers: int


class Dispatcher:
    """Delivers each webhook's events in order, from background threads of this process."""

    def __init__(
        self,
        store: WebhookStore,
        feed: Feed,
        head: Callable[[], int],
        policy: DeliveryPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.feed = feed
        self.head = head
        self.policy = policy
        self.clock = clock
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=policy.workers, thread_name_prefix="webhook")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start delivering in the background."""
        self.store.purge(self.clock() - KEEP_DELIVERED_SECONDS)
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the deliveries in flight, then give up the leases."""
        self.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self.store.release(self.worker)
        except Exception:
            log.warning("could not release the webhook leases; they expire on their own", exc_info=True)

    def wake(self) -> None:
        """Look for work now (new events were recorded)."""
        self._wake.set()

    def _run(self) -> None:
        tick = min(TICK_SECONDS, self.policy.first_retry)
        while not self.stopping.is_set():
            self._wake.clear()
            try:
                for webhook_id in self.store.due(self.head(), self.clock(), self.worker):
                    with self._busy_lock:
                        if webhook_id in self._busy:
                            continue
                        self._busy.add(webhook_id)
                    self._pool.submit(self._serve, webhook_id)
            except Exception:
                log.exception("looking for due webhooks failed")
            self._wake.wait(tick)

    def _serve(self, webhook_id: str) -> None:
        """Deliver to one webhook, in order, until it is caught up, failing, or has had its turn."""
        try:
            with httpx.Client(timeout=self.policy.timeout, follow_redirects=False,
                              headers={"User-Agent": USER_AGENT}) as client:
                deadline = time.monotonic() + SLICE_SECONDS
                while not self.stopping.is_set() and time.monotonic() < deadline:
                    if not self._deliver_page(client, webhook_id):
                        return
        except Exception:
            log.exception("delivering to a webhook failed", webhook_id=webhook_id)
        finally:
            with self._busy_lock:
                self._busy.discard(webhook_id)
            self._wake.set()

    def _deliver_page(self, client: httpx.Client, webhook_id: str) -> bool:
        """Deliver the next page of events; False when there is nothing more to do for now."""
        now = self.clock()
        webhook = self.store.lease(webhook_id, self.worker, now, now + self.policy.lease)
        if webhook is None or (webhook.retry_at is not None and webhook.retry_at > now):
            return False
        page = self.feed.page(webhook.position, PAGE, webhook.types, webhook.scope, upto=self.head())
        for event in page.events:
            if self.stopping.is_set():
                return False
            outcome = self._attempt(client, webhook, event)
            now = self.clock()
            kept = self.store.record(
                webhook.id, int(event["id"]), event["type"], outcome, now, self.worker, now + self.policy.lease,
                lambda failures: retry_delay(failures, self.policy.first_retry, self.policy.longest_retry),
            )
            if not kept or not outcome.delivered:
                if not outcome.delivered:
                    log.info("webhook delivery failed", webhook_id=webhook.id, event_id=event["id"],
                             status=outcome.status_code, error=outcome.error)
                return False
        if len(page.events) == PAGE:
            return True
        # Past the last event delivered lie only events of other types or other subtrees.
        if page.next_after > webhook.position:
            self.store.skip_to(webhook.id, page.next_after, self.worker)
        return page.next_after < self.head()

    def _attempt(self, client: httpx.Client, webhook: Webhook, event: dict[str, Any]) -> Outcome:
        """POST one event, signed; what the endpoint answered."""
        shown = event if webhook.personal_data else without_personal_data(event)
        body = json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        msg_id = message_id(webhook.id, int(event["id"]))
        timestamp = int(self.clock())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(webhook.secret, msg_id, timestamp, body),
        }
        try:
            with client.stream("POST", webhook.url, content=body, headers=headers) as response:
                return Outcome(response.status_code, None if response.is_success else f"HTTP {response.status_code}")
        except httpx.HTTPError as failure:
            return Outcome(None, f"{type(failure).__name__}: {failure}"[:500])
