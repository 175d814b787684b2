"""The event stream, `GET /v1/events/stream`, over real sockets: resuming with Last-Event-ID after
disconnects on either side, heartbeats, slow clients, and PostgreSQL's notifications."""

from __future__ import annotations

import random
import socket
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import psycopg

from projections.events import without_personal_data
from tests.e2e.conftest import ADMIN_TOKEN, code, settings_for
from tests.e2e.serving import Client, Message, ServeProcess, served, stream

Target = Callable[[], int | None]


@dataclass
class Country:
    """`province` ─ `commune` ─ cells `cell_a`, `cell_b`; `other` ─ `other_cell`."""

    province: str
    commune: str
    cell_a: str
    cell_b: str
    other: str
    other_cell: str

    def inside(self) -> set[str]:
        """The sources of the province's subtree."""
        return {f"/organizations/{c}" for c in (self.province, self.commune, self.cell_a, self.cell_b)}


def found_country(admin: Client) -> Country:
    """Two provinces, one with a commune and two cells, the other with one cell."""
    province = admin.found(code("DL"), "provincial", None)
    commune = admin.found(code("DL.BMT"), "upper_grassroots", province)
    cell_a = admin.found(code("DL.BMT.A"), "grassroots_cell", commune)
    cell_b = admin.found(code("DL.BMT.B"), "grassroots_cell", commune)
    other = admin.found(code("GL"), "provincial", None)
    other_cell = admin.found(code("GL.A"), "grassroots_cell", other)
    return Country(province, commune, cell_a, cell_b, other, other_cell)


def record_at_random(admin: Client, country: Country, commands: int, rng: random.Random) -> None:
    """Admissions in both provinces and admission plans for both, in a random order."""
    for step in range(commands):
        if rng.random() < 0.8:
            admin.admit(rng.choice([country.cell_a, country.cell_b, country.other_cell]))
        else:
            org = rng.choice([country.province, country.other])
            response = admin.http.put(f"/v1/organizations/{org}/plans/{2020 + step % 5}", json={"admissions": step})
            assert response.status_code in (200, 201), response.text


def read_with_random_disconnects(url: str, token: str, target: Target, rng: random.Random) -> list[Message]:
    """Follow the stream, hanging up after a random number of messages or heartbeats (sometimes
    at once) and reconnecting with Last-Event-ID, until the event at `target()` has arrived."""
    received: list[Message] = []
    deadline = time.monotonic() + 60

    def done() -> bool:
        until = target()
        return until is not None and bool(received) and received[-1].id >= until

    while not done():
        assert time.monotonic() < deadline, f"the stream stalled at {received[-1].id if received else None}"
        take = rng.choice([0, 1, 1, 2, 3, 5, 8, 13])
        last = received[-1].id if received else None
        with closing(stream(url, token, last_event_id=last)) as messages:
            for item in messages:
                if isinstance(item, Message):
                    received.append(item)
                take -= 1
                if take < 0 or done():
                    break
    return received


def page_with_random_losses(client: Client, target: Target, rng: random.Random) -> list[dict[str, Any]]:
    """Page with random sizes; now and then drop a page unread (a lost response) and ask again."""
    events: list[dict[str, Any]] = []
    after = 0
    deadline = time.monotonic() + 60
    while True:
        until = target()
        if until is not None and after >= until:
            return events
        assert time.monotonic() < deadline, f"paging stalled at {after}"
        response = client.get(f"/v1/events?after={after}&limit={rng.randint(1, 7)}")
        if rng.random() < 0.25:
            continue
        page = response.json()
        events += page["events"]
        if page["next_after"] == after:
            time.sleep(0.01)
        after = page["next_after"]


def test_subscribers_that_disconnect_at_random_get_every_event_of_their_scope_once_in_order(
    database_url: str,
) -> None:
    """While events are recorded, a stream reader that hangs up at random and resumes with
    Last-Event-ID, and a pager that loses pages, both end with exactly the province's events."""
    seed = random.randrange(2**32)
    settings = settings_for(database_url, stream_max_seconds=30, stream_heartbeat_seconds=0.5)
    with served(settings) as url:
        admin = Client(url, ADMIN_TOKEN)
        country = found_country(admin)
        subscriber = admin.token_for("subscriber", country.province)
        last: list[int] = []
        results: dict[str, Any] = {}

        def target() -> int | None:
            return last[0] if last else None

        readers = [
            threading.Thread(target=lambda: results.__setitem__("streamed", read_with_random_disconnects(
                url, subscriber, target, random.Random(seed)))),
            threading.Thread(target=lambda: results.__setitem__("paged", page_with_random_losses(
                admin.as_token(subscriber), target, random.Random(seed + 1)))),
        ]
        for reader in readers:
            reader.start()
        record_at_random(admin, country, 60, random.Random(seed + 2))
        expected = [e for e in admin.feed() if e["source"] in country.inside()]
        last.append(int(expected[-1]["id"]))
        for reader in readers:
            reader.join(timeout=90)

    expected_ids = [int(e["id"]) for e in expected]
    streamed: list[Message] = results["streamed"]
    assert [m.id for m in streamed] == expected_ids, f"seed {seed}"
    assert [m.event for m in streamed] == [without_personal_data(e) for e in expected], f"seed {seed}"
    assert [int(e["id"]) for e in results["paged"]] == expected_ids, f"seed {seed}"


def test_a_stream_resumes_with_last_event_id_after_the_server_is_killed_and_restarted(database_url: str) -> None:
    """The server dies mid-stream; the client reconnects to the new process with the last id it got
    and receives the rest, nothing twice."""
    env = {"DANGVIEN_DATABASE_URL": database_url, "DANGVIEN_ADMIN_TOKEN": ADMIN_TOKEN,
           "DANGVIEN_STREAM_HEARTBEAT_SECONDS": "0.5"}
    server = ServeProcess(env)
    with server:
        admin = Client(server.url, ADMIN_TOKEN)
        country = found_country(admin)
        for _ in range(5):
            admin.admit(country.cell_a)
        received: list[Message] = []
        with closing(stream(server.url, ADMIN_TOKEN)) as messages:
            for item in messages:
                if isinstance(item, Message):
                    received.append(item)
                if len(received) == 7:
                    break
        server.kill()
        server.start()
        for _ in range(5):
            admin.admit(country.cell_b)
        everything = [int(e["id"]) for e in admin.feed()]
        with closing(stream(server.url, ADMIN_TOKEN, last_event_id=received[-1].id)) as messages:
            for item in messages:
                if isinstance(item, Message):
                    received.append(item)
                    if item.id == everything[-1]:
                        break
    assert [m.id for m in received] == everything


def test_a_quiet_stream_sends_heartbeat_comments(database_url: str) -> None:
    """With nothing to send, a comment line keeps proxies and clients from timing out."""
    with served(settings_for(database_url, stream_heartbeat_seconds=0.2, stream_max_seconds=30)) as url:
        started = time.monotonic()
        comments = []
        with closing(stream(url, ADMIN_TOKEN, query=f"?after={2**40}")) as messages:
            for item in messages:
                assert isinstance(item, str)
                comments.append(item)
                if len(comments) == 3:
                    break
        assert comments == [": keep-alive"] * 3
        assert time.monotonic() - started < 3


def test_a_client_that_does_not_read_holds_up_neither_other_clients_nor_writers(database_url: str) -> None:
    """One stream whose client never reads fills its socket and waits; another stream still gets every
    event at once, and commands answer as fast as before."""
    with served(settings_for(database_url, stream_max_seconds=60, stream_heartbeat_seconds=0.2)) as url:
        admin = Client(url, ADMIN_TOKEN)
        country = found_country(admin)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        stalled.sendall(
            f"GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode()
        )
        try:
            received: list[Message] = []
            last = [2**62]
            reader = threading.Thread(
                target=_read_until, args=(stream(url, ADMIN_TOKEN), received, lambda: bool(received) and received[-1].id >= last[0])
            )
            reader.start()
            durations = []
            for _ in range(150):
                started = time.monotonic()
                admin.admit(country.cell_a)
                durations.append(time.monotonic() - started)
            everything = [int(e["id"]) for e in admin.feed()]
            last[0] = everything[-1]
            reader.join(timeout=30)
            assert [m.id for m in received] == everything
            assert statistics.median(durations) < 0.5
        finally:
            stalled.close()


def _read_until(messages: Any, received: list[Message], done: Callable[[], bool]) -> None:
    """Add a stream's messages to `received` until `done()` (asked at each message or heartbeat)."""
    with closing(messages):
        for item in messages:
            if isinstance(item, Message):
                received.append(item)
            if done():
                return


def test_on_postgresql_a_new_event_reaches_a_stream_through_notify_not_polling(postgres_database_url: str) -> None:
    """Each event arrives well within a second, though nothing polls for it more often than every 5 s."""
    with served(settings_for(postgres_database_url, stream_poll_seconds=30, stream_max_seconds=60)) as url:
        admin = Client(url, ADMIN_TOKEN)
        country = found_country(admin)
        delays = []
        messages = stream(url, ADMIN_TOKEN, query=f"?after={admin.feed()[-1]['id']}")
        with closing(messages):
            for _ in range(5):
                admitted = admin.admit(country.cell_a)
                answered = time.monotonic()
                item = next(m for m in messages if isinstance(m, Message))
                delays.append(time.monotonic() - answered)
                assert item.event["subject"] == admitted["member_id"]
        assert max(delays) < 1.0, delays


def test_on_postgresql_idle_streams_hold_no_database_connection(postgres_database_url: str) -> None:
    """Twenty connected, idle streams add no session to the database: they wait on one listener."""

    def sessions() -> int:
        with psycopg.connect(postgres_database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            return int(row[0]) if row else 0

    with served(settings_for(postgres_database_url, stream_max_seconds=60, stream_heartbeat_seconds=0.1)) as url:
        admin = Client(url, ADMIN_TOKEN)
        found_country(admin)
        head = admin.feed()[-1]["id"]
        before = sessions()
        streams = [stream(url, ADMIN_TOKEN, query=f"?after={head}") for _ in range(20)]
        try:
            for messages in streams:
                assert next(messages) == ": keep-alive"
            during = sessions()
        finally:
            for messages in streams:
                messages.close()
    assert during - before < 3, (before, during)


def test_a_malformed_last_event_id_is_a_422_naming_it(database_url: str) -> None:
    """Last-Event-ID must be a position: not letters, not a superscript two (a digit to `str.isdigit`,
    not to `int`), not more digits than `int` converts."""
    with served(settings_for(database_url)) as url:
        client = Client(url, ADMIN_TOKEN).http
        for value in (b"abc", b"\xb2", b"9" * 5000):
            response = client.get("/v1/events/stream", headers={"Last-Event-ID": value})
            assert (response.status_code, response.json()["field"]) == (422, "Last-Event-ID"), value[:10]

