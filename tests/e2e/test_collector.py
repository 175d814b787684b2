"""The web process keeps its long-lived objects out of the garbage collector's full scans."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any


async def test_the_service_freezes_its_long_lived_objects_while_it_runs(start_api: Callable[..., Any]) -> None:
    async with start_api() as api:
        assert gc.get_freeze_count() > 0
        assert (await api.client.get("/healthz")).status_code == 200
    assert gc.get_freeze_count() == 0


async def test_a_freeze_period_of_zero_leaves_the_collector_alone(start_api: Callable[..., Any]) -> None:
    async with start_api(gc_freeze_seconds=0):
        assert gc.get_freeze_count() == 0
