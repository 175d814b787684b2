"""Webhooks: registering and managing them, and their deliveries to a receiver on a loopback port,
signed as the Standard Webhooks spec says, in order, retried, listed."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from projections.events import without_personal_data
from service.webhooks import message_id, retry_delay, signature
from tests.e2e.conftest import ADMIN_TOKEN, Api, Tree, running, settings_for
from tests.e2e.serving import Receiver

FAST_RETRIES = {"webhook_retry_seconds": 0.05, "webhook_retry_max_seconds": 0.2}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a loopback port."""
    with Receiver() as started:
        yield started


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """The application with its dispatcher retrying within a fraction of a second."""
    async with running(settings_for(database_url, **FAST_RETRIES)) as started:
        yield started


async def register(api: Api, receiver: Receiver, path: str, token: str = ADMIN_TOKEN, **body: Any) -> dict[str, Any]:
    """Register a webhook for `receiver`'s `path` (which keeps the secret); return the response body."""
    endpoint = receiver.endpoints.get(path) or receiver.endpoint(path)
    response = await api.post("/v1/webhooks", {"url": receiver.url + path, **body}, token)
    assert response.status_code == 201, response.text
    endpoint.secret = response.json()["secret"]
    return dict(response.json())


async def eventually(condition: Callable[[], bool], seconds: float = 15) -> None:
    """Wait until `condition()` holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def caught_up(api: Api, webhook_id: str, position: int, seconds: float = 15) -> dict[str, Any]:
    """The webhook once its cursor has reached `position` (fail after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        shown = dict((await api.get(f"/v1/webhooks/{webhook_id}")).json())
        if shown["position"] >= position:
            return shown
        assert time.monotonic() < deadline, f"the webhook stayed at {shown['position']}, not {position}"
        await asyncio.sleep(0.02)


async def feed_after(api: Api, after: int, query: str = "") -> list[dict[str, Any]]:
    """The admin's feed after a position (with personal data)."""
    return list((await api.get(f"/v1/events?after={after}&limit=1000{query}")).json()["events"])


# --- signing --------------------------------------------------------------------------------------


def test_the_signature_matches_the_standard_webhooks_example() -> None:
    """The spec's reference libraries sign this message with this secret to this signature."""
    signed = signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
        b'{"test": 2432232314}',
    )
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_retries_wait_twice_as_long_each_time_with_jitter_up_to_a_limit() -> None:
    """Between half and all of first·2^(n-1), never more than the limit."""
    rng = random.Random(7)
    for failures in range(1, 30):
        full = min(60.0, 1.0 * 2 ** (failures - 1))
        delays = {retry_delay(failures, 1.0, 60.0, rng) for _ in range(20)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1


# --- registering ----------------------------------------------------------------------------------


async def test_registering_answers_an_id_and_a_secret_that_is_never_shown_again(
    api: Api, tree: Tree, receiver: Receiver
) -> None:
    """201 with the webhook, its Location and a `whsec_` secret of 32 random bytes; reads leave it out."""
    created = await register(api, receiver, "/hook", scope=tree.province, description="Sổ tay đảng viên")
    assert re.fullmatch(r"wh_[0-9a-f]{16}", created["id"])
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    assert (created["scope"], created["types"], created["personal_data"], created["status"]) == (
        tree.province, None, False, "active",
    )
    shown = (await api.get(f"/v1/webhooks/{created['id']}")).json()
    listed = (await api.get("/v1/webhooks")).json()["webhooks"]
    assert "secret" not in shown and shown == {k: v for k, v in created.items() if k != "secret"}
    assert [w["id"] for w in listed] == [created["id"]]
    assert created["position"] == api.head()


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "http://", "example.org/hook", "http://a b/", 42, ""])
async def test_a_url_that_is_not_http_or_https_is_a_422_naming_url(api: Api, url: Any) -> None:
    """Only http:// and https:// URLs with a host are accepted."""
    response = await api.post("/v1/webhooks", {"url": url})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "url"


@pytest.mark.parametrize("types", [["vn.dangvien.member.admited"], [], "vn.dangvien.member.admitted"])
async def test_types_that_the_ledger_does_not_record_are_a_422_naming_types(api: Api, types: Any) -> None:
    """Unknown names, an empty list or a bare string are refused."""
    response = await api.post("/v1/webhooks", {"url": "https://example.org/hook", "types": types})
    assert (response.status_code, response.json()["field"]) == (422, "types")


async def test_an_unknown_scope_is_a_422_naming_scope(api: Api) -> None:
    """The scope must be an organization of the ledger."""
    response = await api.post("/v1/webhooks", {"url": "https://example.org/hook", "scope": "NO-SUCH"})
    assert (response.status_code, response.json()["field"]) == (422, "scope")


async def test_a_subscriber_registers_webhooks_only_inside_its_subtree(api: Api, tree: Tree) -> None:
    """Its own subtree by default, or a part of it; another province is forbidden."""
    subscriber = await api.token("subscriber", tree.province)
    own = await api.post("/v1/webhooks", {"url": "https://example.org/a"}, subscriber)
    part = await api.post("/v1/webhooks", {"url": "https://example.org/b", "scope": tree.cell_a}, subscriber)
    outside = await api.post("/v1/webhooks", {"url": "https://example.org/c", "scope": tree.other}, subscriber)
    assert (own.status_code, own.json()["scope"]) == (201, tree.province)
    assert (part.status_code, part.json()["scope"]) == (201, tree.cell_a)
    assert outside.status_code == 403


async def test_a_subscriber_may_not_have_personal_data_sent_out(api: Api, tree: Tree) -> None:
    """Only a role that may see personal data may ask for it in deliveries."""
    subscriber = await api.token("subscriber", tree.province)
    response = await api.post("/v1/webhooks", {"url": "https://example.org/a", "personal_data": True}, subscriber)
    assert response.status_code == 403


async def test_roles_other_than_subscriber_and_admin_may_not_register_webhooks(api: Api, tree: Tree) -> None:
    """A clerk records events; it does not subscribe to them."""
    clerk = await api.token("clerk", tree.province)
    response = await api.post("/v1/webhooks", {"url": "https://example.org/a"}, clerk)
    assert response.status_code == 403


async def test_a_subscriber_sees_and_removes_only_its_own_webhooks(api: Api, tree: Tree) -> None:
    """Another subscriber's webhook is a 404 to it; an administrator sees every webhook."""
    first = await api.token("subscriber", tree.province)
    second = await api.token("subscriber", tree.province)
    created = (await api.post("/v1/webhooks", {"url": "https://example.org/a"}, first)).json()
    path = f"/v1/webhooks/{created['id']}"
    assert (await api.get(path, second)).status_code == 404
    assert (await api.request("DELETE", path, second)).status_code == 404
    assert (await api.get("/v1/webhooks", second)).json()["webhooks"] == []
    assert [w["id"] for w in (await api.get("/v1/webhooks")).json()["webhooks"]] == [created["id"]]
    assert (await api.request("DELETE", path, first)).status_code == 204
    assert (await api.get(path, first)).status_code == 404


async def test_a_malformed_webhook_id_is_a_422_and_an_unknown_one_a_404(api: Api) -> None:
    """Ids look like wh_ and 16 hex digits."""
    assert (await api.get("/v1/webhooks/nope")).status_code == 422
    response = await api.get("/v1/webhooks/wh_0123456789abcdef/deliveries")
    assert (response.status_code, response.json()["code"]) == (404, "webhook-not-found")


# --- delivering -----------------------------------------------------------------------------------


async def test_deliveries_are_signed_cloud_events_in_order_and_listed(api: Api, tree: Tree, receiver: Receiver) -> None:
    """Each event of the scope after registration is POSTed once, in order, signed, and listed as delivered."""
    created = await register(api, receiver, "/hook", scope=tree.province)
    start = created["position"]
    for cell in (tree.cell_a, tree.other_cell, tree.cell_b, tree.cell_a):
        await api.admit(cell)
    expected = [e for e in await feed_after(api, start) if e["source"] != f"/organizations/{tree.other_cell}"]
    endpoint = receiver.endpoints["/hook"]
    await eventually(lambda: len(endpoint.received) >= len(expected))
    await asyncio.sleep(0.2)

    received = endpoint.received
    assert len(expected) == 3
    assert [d.event for d in received] == [without_personal_data(e) for e in expected]
    assert all(d.signed for d in received)
    assert [d.webhook_id for d in received] == [message_id(created["id"], int(e["id"])) for e in expected]
    assert {d.headers["content-type"] for d in received} == {"application/cloudevents+json; charset=utf-8"}
    listed = (await api.get(f"/v1/webhooks/{created['id']}/deliveries")).json()
    assert [(d["event_id"], d["status"], d["attempts"], d["last_response_code"]) for d in listed["deliveries"]] == [
        (e["id"], "delivered", 1, 200) for e in expected
    ]
    assert listed["next_after"] == int(expected[-1]["id"])
    await caught_up(api, created["id"], api.head())


async def test_a_failing_endpoint_holds_up_only_itself_and_loses_nothing(
    api: Api, tree: Tree, receiver: Receiver
) -> None:
    """While one endpoint answers 500, another gets every event; the failing one is retried with the
    same webhook-id and, once it recovers, gets every event in order."""
    failing = {"on": True}
    bad = receiver.endpoint("/bad", status=lambda delivery: 500 if failing["on"] else 200)
    good = receiver.endpoint("/good")
    broken = await register(api, receiver, "/bad")
    await register(api, receiver, "/good")
    for _ in range(5):
        await api.admit(tree.cell_a)
    expected = [e["id"] for e in await feed_after(api, broken["position"])]
    await eventually(lambda: [d.event["id"] for d in good.received] == expected)
    await eventually(lambda: len(bad.received) >= 3)

    assert {d.event["id"] for d in bad.received} == {expected[0]}
    assert len({d.webhook_id for d in bad.received}) == 1
    assert all(d.signed for d in bad.received)
    shown = (await api.get(f"/v1/webhooks/{broken['id']}")).json()
    [stuck] = (await api.get(f"/v1/webhooks/{broken['id']}/deliveries?status=failing")).json()["deliveries"]
    assert shown["status"] == "failing" and shown["next_attempt_at"] is not None
    assert (stuck["event_id"], stuck["last_response_code"]) == (expected[0], 500)
    assert stuck["attempts"] >= 2 and stuck["next_attempt_at"] is not None

    failing["on"] = False
    await eventually(lambda: [d.event["id"] for d in bad.taken()] == expected)
    assert all(d.signed for d in bad.received)
    by_id: dict[str, set[str]] = {}
    for delivery in bad.received:
        by_id.setdefault(delivery.event["id"], set()).add(delivery.webhook_id)
    assert all(len(ids) == 1 for ids in by_id.values())
    healed = await caught_up(api, broken["id"], int(expected[-1]))
    assert (healed["status"], healed["next_attempt_at"]) == ("active", None)


async def test_personal_data_reaches_only_webhooks_registered_for_it(api: Api, tree: Tree, receiver: Receiver) -> None:
    """An administrator may ask for national IDs in deliveries; by default they are left out."""
    with_personal = receiver.endpoint("/with")
    without = receiver.endpoint("/without")
    await register(api, receiver, "/with", personal_data=True)
    await register(api, receiver, "/without")
    await api.admit(tree.cell_a)
    await eventually(lambda: bool(with_personal.received) and bool(without.received))
    assert "national_id" in with_personal.received[0].event["data"]["person"]
    assert "national_id" not in without.received[0].event["data"]["person"]


async def test_types_and_scope_choose_what_a_webhook_receives(api: Api, tree: Tree, receiver: Receiver) -> None:
    """A webhook for one cell's admissions gets those and nothing else."""
    endpoint = receiver.endpoint("/cell-b")
    created = await register(api, receiver, "/cell-b", scope=tree.cell_b, types=["vn.dangvien.member.admitted"])
    await api.admit(tree.cell_a)
    admitted = await api.admit(tree.cell_b)
    await api.put(f"/v1/organizations/{tree.cell_b}/plans/2024", {"admissions": 3})
    await caught_up(api, created["id"], api.head())
    assert [d.event["subject"] for d in endpoint.received] == [admitted["member_id"]]


async def test_a_webhook_registered_after_position_zero_receives_the_whole_history(
    api: Api, tree: Tree, receiver: Receiver
) -> None:
    """`after` chooses where deliveries start: 0 replays everything recorded so far."""
    endpoint = receiver.endpoint("/history")
    created = await register(api, receiver, "/history", after=0, scope=tree.other)
    await caught_up(api, created["id"], api.head())
    assert sorted((d.event["type"], d.event["source"]) for d in endpoint.received) == sorted([
        ("vn.dangvien.organization.founded", f"/organizations/{tree.other}"),
        ("vn.dangvien.organization.founded", f"/organizations/{tree.other_cell}"),
        ("vn.dangvien.organization.child_attached", f"/organizations/{tree.other}"),
    ])


async def test_deliveries_stop_when_the_webhook_is_removed(api: Api, tree: Tree, receiver: Receiver) -> None:
    """Nothing more reaches the URL after DELETE."""
    endpoint = receiver.endpoint("/gone")
    created = await register(api, receiver, "/gone")
    assert (await api.request("DELETE", f"/v1/webhooks/{created['id']}")).status_code == 204
    await api.admit(tree.cell_a)
    await asyncio.sleep(0.5)
    assert endpoint.received == []

