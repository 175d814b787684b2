"""Webhooks through a real `dangvien serve` that is killed and restarted in the middle of deliveries:
the receiver still ends with every event, in order, every signature valid, and duplicates only
under the same webhook-id."""

from __future__ import annotations

import random
from collections import Counter

from tests.e2e.conftest import ADMIN_TOKEN
from tests.e2e.serving import Client, Delivery, Receiver, ServeProcess, wait_for
from tests.e2e.test_feed_stream import found_country


def check_deliveries(received: list[Delivery], expected: list[str], restarts: int) -> None:
    """Every expected event was taken, first in order; every request was signed; a repeat always
    carries the event's one webhook-id, and there are no more repeats than interruptions."""
    assert all(d.signed for d in received)
    taken = [d for d in received if 200 <= d.answered < 300]
    first_taken: list[str] = []
    for delivery in taken:
        if delivery.event["id"] not in first_taken:
            first_taken.append(delivery.event["id"])
    assert first_taken == expected
    ids_of_event: dict[str, set[str]] = {}
    events_of_id: dict[str, set[str]] = {}
    for delivery in received:
        ids_of_event.setdefault(delivery.event["id"], set()).add(delivery.webhook_id)
        events_of_id.setdefault(delivery.webhook_id, set()).add(delivery.event["id"])
    assert all(len(ids) == 1 for ids in ids_of_event.values())
    assert all(len(events) == 1 for events in events_of_id.values())
    repeats = sum(count - 1 for count in Counter(d.event["id"] for d in taken).values())
    assert repeats <= restarts


def test_a_restarted_service_resumes_every_webhook_where_it_stopped(database_url: str) -> None:
    """Killed (SIGKILL) and later stopped (SIGTERM) while delivering to a steady and a flaky endpoint,
    the service, once restarted, delivers everything left, and each endpoint ends with every event."""
    rng = random.Random()
    env = {
        "DANGVIEN_DATABASE_URL": database_url,
        "DANGVIEN_ADMIN_TOKEN": ADMIN_TOKEN,
        "DANGVIEN_WEBHOOK_LEASE_SECONDS": "1",
        "DANGVIEN_WEBHOOK_RETRY_SECONDS": "0.02",
        "DANGVIEN_WEBHOOK_RETRY_MAX_SECONDS": "0.2",
    }
    with Receiver() as receiver:
        steady = receiver.endpoint("/steady", delay=0.01)
        flaky = receiver.endpoint("/flaky", status=lambda delivery: 500 if rng.random() < 0.3 else 204)
        server = ServeProcess(env)
        server.start()
        try:
            admin = Client(server.url, ADMIN_TOKEN)
            country = found_country(admin)
            start = int(admin.feed()[-1]["id"])
            for path, endpoint in (("/steady", steady), ("/flaky", flaky)):
                response = admin.post("/v1/webhooks", {"url": receiver.url + path})
                assert response.status_code == 201, response.text
                endpoint.secret = response.json()["secret"]
            for _ in range(60):
                admin.admit(rng.choice([country.cell_a, country.other_cell]))
            wait_for(lambda: len(steady.taken()) >= 10, 30, "the first deliveries")
            server.kill()

            server.start()
            for _ in range(20):
                admin.admit(country.cell_b)
            wait_for(lambda: len(steady.taken()) >= 70, 30, "deliveries after the first restart")
            server.stop()

            server.start()
            expected = [e["id"] for e in admin.feed(after=start)]
            wait_for(lambda: len({d.event["id"] for d in steady.taken()}) == len(expected), 60, "every steady delivery")
            wait_for(lambda: len({d.event["id"] for d in flaky.taken()}) == len(expected), 60, "every flaky delivery")
        finally:
            server.stop()
    assert len(expected) == 80
    check_deliveries(steady.received, expected, restarts=2)
    check_deliveries(flaky.received, expected, restarts=2)
    assert any(not 200 <= d.answered < 300 for d in flaky.received)
