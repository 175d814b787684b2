"""Prometheus metrics: requests by route and status, commands recorded, the log's head and the projection lag."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COMMAND_METHODS = frozenset({"POST", "PUT"})
# Token management writes no event; every other successful POST/PUT under /v1 is a command.
NOT_COMMANDS = frozenset({"/v1/tokens"})

log = structlog.get_logger("dangvien.metrics")


class StoreCollector(Collector):
    """Reads the head of the log and the read models' position at each scrape."""

    def __init__(self, head: Callable[[], int], position: Callable[[], int]) -> None:
        self.head = head
        self.position = position

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            head, position = self.head(), self.position()
        except Exception:
            # A scrape must not fail because the store is down; /readyz reports that.
            log.warning("metrics could not read the store", exc_info=True)
            return
        yield GaugeMetricFamily(
            "dangvien_events_recorded", "Position of the newest event in the ledger's log", value=head
        )
        yield GaugeMetricFamily(
            "dangvien_projection_position", "Last position applied to the read models", value=position
        )
        yield GaugeMetricFamily(
            "dangvien_projection_lag_events", "Events recorded but not yet applied to the read models",
            value=max(0, head - position),
        )


class Metrics:
    """This process's metrics, in a registry of its own (one per application, not a global one)."""

    def __init__(self, head: Callable[[], int], position: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dangvien_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "dangvien_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
        )
        self.commands = Counter(
            "dangvien_commands_recorded", "Commands that recorded events", ["route"], registry=self.registry
        )
        self.registry.register(StoreCollector(head, position))

    def observe_request(self, method: str, route: str, status: int, seconds: float, replayed: bool = False) -> None:
        """Count an answered request; an idempotent replay recorded nothing, so it is no command."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        is_command = method in COMMAND_METHODS and route.startswith("/v1/") and route not in NOT_COMMANDS
        if is_command and 200 <= status < 300 and not replayed:
            self.commands.labels(route).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
