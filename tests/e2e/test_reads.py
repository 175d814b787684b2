"""Queries: read-your-writes with min_position, the tree as of a day, audit trails and rosters (the
event feed is in test_feed.py)."""

from __future__ import annotations

from typing import Any

import pytest

from projections import read_models
from tests.e2e.conftest import Api, Tree, decision, person


async def test_a_query_for_a_position_not_yet_applied_is_a_503_with_retry_after(start_api: Any) -> None:
    """Without a runner the read models never reach the position: 503 after the wait."""
    async with start_api(projector=False, read_wait_seconds=0.2) as api:
        response = await api.get("/v1/events?min_position=1000")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert (response.json()["code"], response.json()["min_position"]) == ("not-caught-up", 1000)


async def test_an_organization_is_shown_as_the_tree_stood_on_a_day(api: Api, tree: Tree) -> None:
    """Before it was founded an organization is unknown; after, it has its children."""
    position = api.head()
    before = await api.get(f"/v1/organizations/{tree.commune}?as_of=2014-12-31&min_position={position}")
    after = await api.get(f"/v1/organizations/{tree.commune}?as_of=2016-01-01")
    assert before.status_code == 404
    assert after.json()["children"] == sorted([tree.cell_a, tree.cell_b])
    assert (after.json()["kind"], after.json()["parent"], after.json()["founded_on"]) == (
        "upper_grassroots", tree.province, "2015-01-01",
    )


async def test_an_auditor_reads_an_organization_event_trail(api: Api, tree: Tree) -> None:
    """Oldest first, each with position, type, dates and who recorded it."""
    auditor = await api.token("auditor", tree.province)
    admitted = await api.admit(tree.cell_a)
    response = await api.get(f"/v1/organizations/{tree.cell_a}/events?min_position={admitted['position']}", auditor)
    events = response.json()["events"]
    assert [event["type"] for event in events] == ["Founded", "MemberAdmitted"]
    assert {"position", "type", "effective_on", "recorded_at", "recorded_by", "data"} <= events[0].keys()
    assert response.json()["next_after"] == events[-1]["position"]


async def test_a_roster_lists_the_cells_members(api: Api, tree: Tree) -> None:
    """The contract's roster shape, with the new member on probation."""
    admitted = await api.admit(tree.cell_a)
    response = await api.get(f"/v1/organizations/{tree.commune}/roster?scope=subtree&min_position={admitted['position']}")
    body = response.json()
    assert (body["total"], body["probationary"], body["official"]) == (1, 1, 0)
    [member] = body["members"]
    assert (member["member_id"], member["status"], member["cell"]) == (admitted["member_id"], "probationary", tree.cell_a)


async def test_a_roster_lists_every_member_unless_a_page_is_asked_for(
    api: Api, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract's `members` is the whole roster, however long (sent as it is read, here ten
    members at a time); `limit` and `offset` page it."""
    monkeypatch.setattr(read_models, "ROSTER_PIECE", 10)
    admitted = [await api.admit(tree.cell_a) for _ in range(105)]
    seen = admitted[-1]["position"]
    whole = (await api.get(f"/v1/organizations/{tree.cell_a}/roster?min_position={seen}")).json()
    assert whole["total"] == 105
    assert sorted(m["member_id"] for m in whole["members"]) == sorted(a["member_id"] for a in admitted)
    first = (await api.get(f"/v1/organizations/{tree.cell_a}/roster?limit=100")).json()
    rest = (await api.get(f"/v1/organizations/{tree.cell_a}/roster?limit=100&offset=100")).json()
    assert [m["member_id"] for m in first["members"] + rest["members"]] == [m["member_id"] for m in whole["members"]]
    assert (len(first["members"]), len(rest["members"])) == (100, 5)


async def test_a_member_in_an_official_transfer_is_in_transit_wherever_the_member_is_looked_up(
    api: Api, tree: Tree
) -> None:
    """By id, by national ID and on the sending roster alike, until the reception."""
    subject = person()
    admitted = await api.admit(tree.cell_a, person=subject)
    member = admitted["member_id"]
    issued = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{member}/transfers",
        {"to": tree.other_cell, "kind": "official", "issued_on": "2025-06-01", "decision": decision("2025-06-01")},
    )
    seen = issued.json()["position"]

    async def statuses() -> tuple[str, str]:
        by_id = (await api.get(f"/v1/members/{member}?min_position={seen}")).json()["status"]
        query = f"/v1/members?national_id={subject['national_id']}&min_position={seen}"
        [found] = (await api.get(query)).json()["members"]
        return by_id, found["status"]

    roster = (await api.get(f"/v1/organizations/{tree.cell_a}/roster?min_position={seen}")).json()
    assert [m["status"] for m in roster["members"]] == ["in_transit"]
    assert await statuses() == ("in_transit", "in_transit")
    received = await api.post(
        f"/v1/organizations/{tree.other_cell}/transfers/{issued.json()['transfer_id']}/reception",
        {"received_on": "2025-06-20"},
    )
    seen = received.json()["position"]
    assert await statuses() == ("probationary", "probationary")
