"""Idempotency-Key on POST and PUT: a repeat returns the first answer and records nothing."""

from __future__ import annotations

import asyncio
import json
import secrets

from service.auth import hash_token
from service.idempotency import request_hash
from tests.e2e.conftest import ADMIN_TOKEN, Api, Tree, admission, decision


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": secrets.token_hex(16)}


async def test_a_repeated_admission_returns_the_first_answer_and_records_nothing(api: Api, tree: Tree) -> None:
    """Same key, same body: the same 201 body, the same member, no new event."""
    headers, body = key(), admission()
    first = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers)
    head = api.head()
    again = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert api.head() == head


async def test_a_repeat_with_the_same_json_written_differently_is_the_same_request(api: Api, tree: Tree) -> None:
    """Key order and spacing do not make another request."""
    headers = key()
    first = await api.put(f"/v1/organizations/{tree.commune}/plans/2022", {"admissions": 7}, headers=headers)
    again = await api.request(
        "PUT", f"/v1/organizations/{tree.commune}/plans/2022", content=b'{ "admissions" : 7 }',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.json() == first.json()


async def test_the_same_key_with_another_body_is_a_409_idempotency_key_reused(api: Api, tree: Tree) -> None:
    """A key names one request; reusing it for another is refused and records nothing."""
    headers = key()
    await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(), headers=headers)
    head = api.head()
    other = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(), headers=headers)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency-key-reused")
    assert other.headers["content-type"] == "application/problem+json"
    assert api.head() == head


async def test_the_same_key_on_another_path_is_a_409_idempotency_key_reused(api: Api, tree: Tree) -> None:
    """The path is part of the request."""
    headers, body = key(), admission()
    await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers)
    other = await api.post(f"/v1/organizations/{tree.cell_b}/admissions", body, headers=headers)
    assert other.status_code == 409


async def test_a_refusal_is_replayed_too(api: Api, tree: Tree) -> None:
    """A 409 for a broken rule is final: the repeat gets the same problem."""
    headers = key()
    body = admission(admitted_on="2021-02-01")  # before its decision
    first = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers)
    again = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"


async def test_keys_belong_to_the_token_that_used_them(api: Api, tree: Tree) -> None:
    """Two clerks choosing the same key do not see each other's answers."""
    headers = key()
    clerk_a = await api.token("clerk", tree.province)
    clerk_b = await api.token("clerk", tree.province)
    first = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(), clerk_a, headers=headers)
    second = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(), clerk_b, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["member_id"] != second.json()["member_id"]


async def test_concurrent_duplicates_record_once(api: Api, tree: Tree) -> None:
    """Five copies of the same request sent at once: one admission, five identical answers."""
    headers, body = key(), admission()
    head = api.head()
    answers = await asyncio.gather(
        *(api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1
    # An admission records two events: the cell's and the person registry's.
    assert api.head() == head + 2


async def test_a_request_without_a_key_records_every_time(api: Api, tree: Tree) -> None:
    """Without the header nothing is deduplicated (the second admission is a broken rule)."""
    body = admission()
    first = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)
    again = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)
    assert (first.status_code, again.status_code) == (201, 409)


async def test_an_unauthenticated_request_with_a_key_is_401_and_keeps_nothing(api: Api, tree: Tree) -> None:
    """The key is not claimed for a caller the service does not know."""
    headers, body = key(), admission()
    anonymous = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, None, headers=headers)
    known = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers)
    assert (anonymous.status_code, known.status_code) == (401, 201)


async def test_an_unreadable_key_is_a_422_naming_the_header(api: Api, tree: Tree) -> None:
    """Keys are visible ASCII, at most 255 characters."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/admissions", admission(), headers={"Idempotency-Key": "k" * 300}
    )
    assert (response.status_code, response.json()["field"]) == (422, "Idempotency-Key")


async def test_a_body_nested_too_deep_to_parse_is_a_422_with_a_key_as_without(api: Api, tree: Tree) -> None:
    """The key's hash of a body Python cannot parse (too deep) falls back to its bytes; no 500."""
    url = f"/v1/organizations/{tree.cell_a}/admissions"
    head = api.head()
    for body in ("[" * 100_000, "[" * 50_000 + "]" * 50_000):
        for headers in ({}, key()):
            response = await api.request("POST", url, content=body, headers={**headers, "Content-Type": "application/json"})
            assert response.status_code == 422, (len(body), headers, response.text[:200])
    assert api.head() == head


async def test_a_replayed_confirmation_still_carries_its_position(api: Api, tree: Tree) -> None:
    """The replay is the first answer, position included, though nothing new was recorded."""
    admitted = await api.admit(tree.cell_a)
    headers = key()
    url = f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/confirmation"
    body = {"decided_on": "2022-04-01", "decision": decision("2022-04-01")}
    first = await api.post(url, body, headers=headers)
    again = await api.post(url, body, headers=headers)
    assert first.status_code == 200, first.text
    assert again.json()["position"] == first.json()["position"] == api.head()


async def test_a_token_issued_with_an_idempotency_key_is_not_kept_in_the_clear(api: Api, tree: Tree) -> None:
    """Token answers are never written to the idempotency table; a repeat is refused by its label."""
    headers, body = key(), {"role": "reader", "scope": tree.province, "label": "reader.idem"}
    first = await api.post("/v1/tokens", body, headers=headers)
    again = await api.post("/v1/tokens", body, headers=headers)
    with api.services.sql.transaction(write=False) as cur:
        kept = cur.execute("SELECT COUNT(*) FROM idempotency_keys WHERE body LIKE ?", (f"%{first.json()['token']}%",)).one()
    assert (first.status_code, again.status_code) == (201, 409)
    assert kept == (0,)


async def test_a_replay_is_logged_under_its_route_and_not_counted_as_a_command(api: Api, tree: Tree) -> None:
    """Replays skip the router, yet the log names the route; the commands metric counts one."""
    headers, body = key(), admission()
    for _ in range(2):
        await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body, headers=headers)
    lines = [line for line in api.log_lines() if line.get("event") == "request" and line["method"] == "POST"]
    assert [line["route"] for line in lines[-2:]] == ["/v1/organizations/{code}/admissions"] * 2
    assert lines[-1]["replayed"] is True
    metrics = (await api.get("/metrics", token=None)).text
    assert 'dangvien_commands_recorded_total{route="/v1/organizations/{code}/admissions"} 1.0' in metrics


async def test_a_claim_left_unanswered_by_a_stopped_process_is_taken_over(api: Api, tree: Tree) -> None:
    """A key claimed long ago and never answered does not block the client forever."""
    headers, body = key(), admission()
    url = f"/v1/organizations/{tree.cell_a}/admissions"
    hashed = request_hash("POST", url, json.dumps(body).encode())
    with api.services.sql.transaction() as cur:
        cur.execute(
            "INSERT INTO idempotency_keys (owner, idempotency_key, request_hash, created_at) VALUES (?, ?, ?, ?)",
            (hash_token(ADMIN_TOKEN), headers["Idempotency-Key"], hashed, "2000-01-01T00:00:00+00:00"),
        )
    response = await api.post(url, body, headers=headers)
    assert response.status_code == 201
