"""Pacing the garbage collector through batch work: survivors frozen, garbage still freed."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from domain.collector import CollectorPacing, PacedInBackground


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Node:
    """An object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_survivors_are_frozen_during_the_work_and_thawed_after() -> None:
    clock = Clock()
    with CollectorPacing(freeze_every=1.0, clock=clock) as pacing:
        assert gc.get_freeze_count() > 0
        kept = [Node() for _ in range(1000)]
        clock.now = 1.5
        before = gc.get_freeze_count()
        pacing.batch_done()
        # The batch's survivors joined the frozen ones.
        assert gc.get_freeze_count() >= before + len(kept)
        assert pacing.freezes == 2
    assert gc.get_freeze_count() == 0


def test_no_freeze_between_batches_sooner_than_asked() -> None:
    clock = Clock()
    with CollectorPacing(freeze_every=1.0, clock=clock) as pacing:
        clock.now = 0.5
        pacing.batch_done()
        assert pacing.freezes == 1


def test_garbage_frozen_with_the_survivors_is_freed_by_the_next_full_collection() -> None:
    clock = Clock()
    with CollectorPacing(freeze_every=1.0, min_full_interval=30.0, clock=clock) as pacing:
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        clock.now = 1.0
        pacing.batch_done()  # the cycle is alive then (a working copy, say): frozen with the rest
        del a, b
        gc.collect()
        assert ref() is not None, "a frozen cycle is not collected"
        clock.now = 31.0
        pacing.batch_done()
        assert pacing.full_collections == 1
        assert ref() is None


def test_full_collections_are_spaced_to_keep_their_share_of_the_time() -> None:
    clock = Clock()
    with CollectorPacing(min_full_interval=1.0, full_share=1e-9, clock=clock) as pacing:
        clock.now = 1.0
        pacing.batch_done()
        assert pacing.full_collections == 1
        # Any collection takes far more than a billionth of a second: the next one is far off.
        clock.now = 100.0
        pacing.batch_done()
        assert pacing.full_collections == 1


def test_work_inside_work_leaves_the_pace_to_the_outer() -> None:
    clock = Clock()
    with CollectorPacing(clock=clock):
        frozen = gc.get_freeze_count()
        with CollectorPacing(clock=clock) as inner:
            clock.now = 100.0
            inner.batch_done()
            assert (inner.freezes, inner.full_collections) == (0, 0)
        assert gc.get_freeze_count() == frozen > 0
    assert gc.get_freeze_count() == 0


def test_a_long_running_process_is_paced_from_a_thread_until_stopped() -> None:
    paced = PacedInBackground(freeze_every=0.01, period=0.01)
    paced.start()
    try:
        assert gc.get_freeze_count() > 0
        deadline = time.monotonic() + 10
        while paced.pacing.freezes < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert paced.pacing.freezes >= 3
    finally:
        paced.stop()
    assert gc.get_freeze_count() == 0


def test_a_pace_of_zero_leaves_the_collector_alone() -> None:
    paced = PacedInBackground(freeze_every=0)
    paced.start()
    try:
        assert gc.get_freeze_count() == 0
    finally:
        paced.stop()
