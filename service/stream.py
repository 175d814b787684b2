"""Following the head of the log for the whole process, and the server-sent event stream.

One `LogWatcher` thread per process learns of new events (on PostgreSQL from the events table's
NOTIFY channel, on SQLite by polling), decodes them once into the feed's memory and wakes every
waiting stream and the webhook dispatcher. An idle stream holds no database connection and no
thread: it waits on the watcher. A stream that wakes reads its page from memory, or, when it is
far behind, from the store in the thread pool; each stream is a generator that produces its next
page only once the previous one has been written to its socket, so a slow client holds at most
one page and its socket buffer, and holds up nobody else.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import structlog
from starlette.responses import StreamingResponse

from service.feed import SCAN, Feed, Page

log = structlog.get_logger("dangvien.stream")

# Events one stream sends per page; also what a slow client may have waiting in memory.
STREAM_PAGE = 100
# On PostgreSQL, look at the head this often even without a notification (one may be lost
# while the LISTEN connection is re-made).
LISTEN_FALLBACK_SECONDS = 5.0
NOTIFY_WAIT_SECONDS = 0.2
RECONNECT_SECONDS = 1.0

Connect = Callable[[], Any]


class LogWatcher:
    """Knows the head of the log and wakes those waiting for it to move."""

    def __init__(self, feed: Feed, poll_seconds: float, listen: Connect | None = None, channel: str | None = None) -> None:
        self.feed = feed
        self.poll_seconds = poll_seconds
        self.listen = listen if channel else None
        self.channel = channel
        self.head = 0
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._listeners: list[Callable[[], None]] = []

    def start(self) -> None:
        """Follow the head in a background thread."""
        self._thread = threading.Thread(target=self._run, name="log-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following; wake everyone so they can notice."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._wake()

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from the watcher's thread; it must be quick) whenever the head moves."""
        self._listeners.append(listener)

    async def wait_beyond(self, position: int, timeout: float) -> bool:
        """Wait until the head is past `position`; False if it is not within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (loop, future)
        with self._lock:
            if self.head > position or self.stopping.is_set():
                return self.head > position
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self.head > position

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.listen is not None:
                    self._follow_notifications()
                else:
                    self._advance()
                    self.stopping.wait(self.poll_seconds)
            except Exception:
                log.exception("following the log failed; trying again")
                self.stopping.wait(RECONNECT_SECONDS)
                try:
                    self._advance()
                except Exception:
                    log.warning("the store did not answer", exc_info=True)

    def _follow_notifications(self) -> None:
        assert self.listen is not None
        with self.listen() as conn:
            conn.execute(f'LISTEN "{self.channel}"')
            # Events committed before the LISTEN took effect sent no notification we could see.
            self._advance()
            looked = time.monotonic()
            while not self.stopping.is_set():
                notified = False
                # A short wait, so that stopping is noticed soon.
                for _ in conn.notifies(timeout=NOTIFY_WAIT_SECONDS, stop_after=1):
                    notified = True
                if notified or time.monotonic() - looked > LISTEN_FALLBACK_SECONDS:
                    self._advance()
                    looked = time.monotonic()

    def _advance(self) -> None:
        head = self.feed.head()
        if head > self.head or not self.feed.recent.started:
            self.feed.follow(head)
            with self._lock:
                self.head = max(self.head, head)
            self._wake()

    def _wake(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:
                # That event loop has closed: nobody is waiting there any more.
                pass
        for listener in self._listeners:
            listener()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def sse_message(event: dict[str, Any]) -> str:
    """One server-sent event: `id` the position, `data` the CloudEvent on one line."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event['id']}\ndata: {data}\n\n"


async def event_stream(
    feed: Feed,
    watcher: LogWatcher,
    after: int,
    types: frozenset[str] | None,
    scope: str | None,
    shown: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    heartbeat: float,
    lasting: float,
    retry_ms: int,
) -> AsyncIterator[str]:
    """The events after `after` as server-sent events, with a comment after each `heartbeat` seconds
    of silence; ends after `lasting` seconds (the client reconnects with Last-Event-ID)."""
    yield f"retry: {retry_ms}\n\n"
    deadline = time.monotonic() + lasting
    position = after
    while not watcher.stopping.is_set():
        head = watcher.head
        if position < head:
            page: Page | None = feed.cached_page(position, STREAM_PAGE, types, scope, head)
            if page is None:
                page = await anyio.to_thread.run_sync(feed.page, position, STREAM_PAGE, types, scope, SCAN, head)
            events = shown(page.events)
            if events:
                # One write per page: a burst costs one system call, not one per event.
                yield "".join(sse_message(event) for event in events)
            position = page.next_after
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        if position < watcher.head:
            continue
        if not await watcher.wait_beyond(position, min(heartbeat, remaining)) and time.monotonic() < deadline:
            yield ": keep-alive\n\n"


class EventStreamResponse(StreamingResponse):
    """A `text/event-stream` response that proxies do not buffer or cache.

    Starlette cancels the stream as soon as the client disconnects (it listens for the disconnect
    under ASGI 2.3, which uvicorn speaks), so an idle stream ends with its connection.
    """

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], status_code: int = 200) -> None:
        super().__init__(content, status_code, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
