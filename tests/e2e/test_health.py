"""Operations: liveness, readiness, Prometheus metrics and the OpenAPI page, without a token."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from service.feed import Lineage
from tests.e2e.conftest import Api, Tree


async def test_healthz_answers_while_the_process_is_up(api: Api) -> None:
    """No token is needed."""
    response = await api.get("/healthz", token=None)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_answers_ready_when_the_read_models_are_caught_up(api: Api, tree: Tree) -> None:
    """Ready once the runner has applied the log."""
    await api.get(f"/v1/organizations/{tree.province}?min_position={api.head()}")
    response = await api.get("/readyz", token=None)
    assert response.status_code == 200
    assert response.json()["lag"] == 0


async def test_readyz_is_a_503_when_the_read_models_are_too_far_behind(start_api: Any) -> None:
    """Without a runner, a log longer than the allowed lag makes the service not ready."""
    async with start_api(projector=False, ready_max_lag=0) as api:
        await api.found("ROOT-A", "provincial", None)
        response = await api.get("/readyz", token=None)
        assert (response.status_code, response.json()["code"]) == (503, "read-models-behind")


async def test_metrics_count_requests_by_route_and_status(api: Api, tree: Tree) -> None:
    """Counters are labelled with route templates, and the store's gauges are exported."""
    await api.admit(tree.cell_a)
    text = (await api.get("/metrics", token=None)).text
    assert 'dangvien_http_requests_total{method="POST",route="/v1/organizations/{code}/admissions",status="201"} 1.0' in text
    assert 'dangvien_commands_recorded_total{route="/v1/organizations/{code}/admissions"} 1.0' in text
    assert f"dangvien_events_recorded {float(api.head())}" in text
    assert "dangvien_projection_lag_events" in text
    assert "dangvien_http_request_duration_seconds_bucket" in text


async def test_the_openapi_page_is_served(api: Api) -> None:
    """/docs shows the contract."""
    assert (await api.get("/docs", token=None)).status_code == 200
    schema = (await api.get("/openapi.json", token=None)).json()
    assert "/v1/organizations/{code}/admissions" in schema["paths"]


async def test_readyz_is_a_503_until_the_feed_has_read_the_tree(
    start_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A starting service is not ready while its feed reads the tree's history from the log, and
    is ready as soon as it has."""
    reading = threading.Event()
    release = threading.Event()
    advance = Lineage.advance

    def slow_advance(self: Lineage, upto: int) -> None:
        reading.set()
        release.wait(10)
        advance(self, upto)

    monkeypatch.setattr(Lineage, "advance", slow_advance)
    async with start_api() as api:
        assert await asyncio.to_thread(reading.wait, 10)
        response = await api.get("/readyz", token=None)
        assert (response.status_code, response.json()["code"]) == (503, "feed-starting")
        assert response.headers["Retry-After"] == "1"
        release.set()
        for _ in range(100):
            response = await api.get("/readyz", token=None)
            if response.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert response.status_code == 200, response.text
