"""Pacing Python's cyclic garbage collector through long batch work (imports, rebuilds).

A bulk import or a rebuild keeps a large, slowly growing set of long-lived objects (the streams
and organizations it holds warm, the tree of organizations) and makes a torrent of short-lived
ones. Left to itself, the collector scans the whole long-lived set again every time enough
objects have survived a young collection: measured, a fifth to a third of an import's wall time
and a sixth of a rebuild's went to those full scans, growing with the history.

`CollectorPacing` freezes what has survived so far after a batch (`gc.freeze`: the collector no
longer scans it), so young collections stay cheap and full ones scan only what is new. Cyclic
garbage that happened to be frozen would never be freed, so every so often it thaws everything
and runs one full collection, spaced so that these take a small, fixed share of the time
(`full_share`) whatever the size of the heap. Leaving, it thaws everything: the process goes
back to the collector's own pace.

A web process has the same shape (the tree of organizations, caches of streams) and there a
full scan is a pause that some request waits for: `PacedInBackground` paces it from a thread of
its own, on a clock rather than after batches, with full collections much rarer.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from types import TracebackType


class CollectorPacing:
    """Freeze survivors after batches and collect in full at a bounded share of the time.

    Use as a context manager around the work, and call `batch_done()` after every batch.
    """

    def __init__(
        self,
        freeze_every: float = 1.0,
        min_full_interval: float = 30.0,
        full_share: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
        before_freeze: int = 1,
    ) -> None:
        self.freeze_every = freeze_every
        self.before_freeze = before_freeze
        self.min_full_interval = min_full_interval
        self.full_share = full_share
        self.clock = clock
        self.freezes = 0
        self.full_collections = 0
        self._last_freeze = 0.0
        self._last_full = 0.0
        self._full_interval = min_full_interval
        self._active = False

    def __enter__(self) -> CollectorPacing:
        # Nested work (an import inside a service that already paces) leaves the pace to the outer one.
        self._active = gc.get_freeze_count() == 0 and gc.isenabled()
        now = self.clock()
        self._last_freeze = self._last_full = now
        if self._active:
            self._freeze(now)
        return self

    def batch_done(self) -> None:
        """A batch's work is written: its survivors are long-lived now, or garbage soon collected."""
        if not self._active:
            return
        now = self.clock()
        if now - self._last_full >= self._full_interval:
            self._collect_in_full()
        elif now - self._last_freeze >= self.freeze_every:
            self._freeze(now)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._active:
            gc.unfreeze()
            self._active = False

    def _freeze(self, now: float) -> None:
        # A collection first, so that what has died is not frozen with the rest: of the young
        # generations only after a batch (most of what it made is still alive, and a full
        # collection would scan it all), of everything not frozen yet in a service (little).
        gc.collect(self.before_freeze)
        gc.freeze()
        self.freezes += 1
        self._last_freeze = now

    def _collect_in_full(self) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        took = time.perf_counter() - started
        self.full_collections += 1
        # The next one after at least the interval that keeps full collections at `full_share`.
        self._full_interval = max(self.min_full_interval, took / self.full_share)
        self._last_full = self._last_freeze = self.clock()
        self.freezes += 1


class PacedInBackground:
    """`CollectorPacing` for a long-running process: a daemon thread calls `batch_done` every
    `period` seconds until `stop`. `freeze_every` of 0 leaves the collector to itself.

    Each freeze is itself a short pause (a collection of what is not frozen yet), so it is frequent:
    in a web process at scale 0.05 taking 20 commands a second, freezing every 10 s paused it for
    25–45 ms each time, every second for under 7 ms.
    """

    def __init__(
        self,
        freeze_every: float = 1.0,
        min_full_interval: float = 900.0,
        full_share: float = 0.001,
        period: float = 1.0,
    ) -> None:
        self.pacing = CollectorPacing(freeze_every, min_full_interval, full_share, before_freeze=2)
        self.period = period
        self.enabled = freeze_every > 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.enabled:
            return
        self.pacing.__enter__()
        self._thread = threading.Thread(target=self._run, name="collector-pacing", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.period):
            self.pacing.batch_done()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=30)
        self._thread = None
        self.pacing.__exit__(None, None, None)


__all__ = ["CollectorPacing", "PacedInBackground"]
