"""Queries: read-your-writes with min_position, the tree as of a day, audit trails and rosters (the
event feed is in test_feed.py)."""

from __future__ import annotations

from typing import Any

import pytest

from projections import read_models
from tests.e2e.conftest import Api, Tree, code, decision, person


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


async def _timeline(api: Api, member_id: str, seen: int) -> list[tuple[str, str]]:
    body = (await api.get(f"/v1/members/{member_id}?min_position={seen}")).json()
    return [(event["type"], event["organization"]) for event in body["timeline"]]


async def test_a_member_s_timeline_follows_the_member_through_a_merger_and_a_split(api: Api, tree: Tree) -> None:
    """The collective moves of a restructuring are about every member they carry: the ended
    unit's event and the successor's, so the timeline explains each change of cell."""
    first = await api.admit(tree.cell_a)
    second = await api.admit(tree.cell_b)
    merged = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "merge", "into": tree.cell_b, "effective_on": "2025-07-01", "decision": decision("2025-07-01")},
    )
    assert merged.status_code == 200, merged.text
    new_cell = await api.found(code("HN.C"), "grassroots_cell", tree.commune)
    split = await api.post(
        f"/v1/organizations/{tree.cell_b}/restructurings",
        {"action": "split", "effective_on": "2025-09-01", "decision": decision("2025-09-01"),
         "parts": [{"into": new_cell, "members": [first["member_id"]]},
                   {"into": tree.other_cell, "members": [second["member_id"]]}]},
    )
    assert split.status_code == 200, split.text
    seen = split.json()["position"]
    assert await _timeline(api, first["member_id"], seen) == [
        ("MemberAdmitted", tree.cell_a),
        ("MergedInto", tree.cell_a),
        ("Absorbed", tree.cell_b),
        ("SplitUp", tree.cell_b),
        ("Absorbed", new_cell),
    ]
    assert await _timeline(api, second["member_id"], seen) == [
        ("MemberAdmitted", tree.cell_b),
        ("SplitUp", tree.cell_b),
        ("Absorbed", tree.other_cell),
    ]
    assert (await api.get(f"/v1/members/{first['member_id']}")).json()["cell"] == new_cell


async def test_a_member_s_timeline_holds_both_sides_of_a_transfer(api: Api, tree: Tree) -> None:
    """The destination's events about the member (the announced transfer, the guest's stay, the
    withdrawal of a cancelled transfer) are in the member's timeline beside the sender's."""
    member = (await api.admit(tree.cell_a))["member_id"]
    temporary = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{member}/transfers",
        {"to": tree.other_cell, "kind": "temporary", "issued_on": "2025-06-01", "until": "2025-12-01",
         "decision": decision("2025-06-01")},
    )
    transfer_id = temporary.json()["transfer_id"]
    await api.post(f"/v1/organizations/{tree.other_cell}/transfers/{transfer_id}/reception", {"received_on": "2025-06-10"})
    await api.post(f"/v1/organizations/{tree.other_cell}/transfers/{transfer_id}/return", {"returned_on": "2025-11-20"})
    official = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{member}/transfers",
        {"to": tree.cell_b, "kind": "official", "issued_on": "2025-12-05", "decision": decision("2025-12-05")},
    )
    cancelled = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{member}/transfers/{official.json()['transfer_id']}/cancellation",
        {"cancelled_on": "2025-12-10"},
    )
    assert cancelled.status_code == 200, cancelled.text
    timeline = await _timeline(api, member, cancelled.json()["position"])
    assert [t for t in timeline if t[1] != tree.cell_a] == [
        ("TransferAnnounced", tree.other_cell),
        ("GuestReceived", tree.other_cell),
        ("GuestReturned", tree.other_cell),
        ("TransferAnnounced", tree.cell_b),
        ("TransferWithdrawn", tree.cell_b),
    ]
    assert [t[0] for t in timeline if t[1] == tree.cell_a] == [
        "MemberAdmitted", "TransferIssued", "TemporaryTransferStarted", "TransferClosed", "TransferIssued",
        "TransferClosed",
    ]


async def test_the_withdrawal_of_a_transfer_is_in_the_member_s_timeline_whatever_ended_it(
    api: Api, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A temporary transfer cancelled before the host received the member, and an official one
    ended by the member's death: the destination's withdrawal names only the transfer, and is the
    member's all the same, even when it falls in the projector's next batch."""
    monkeypatch.setattr(read_models, "BATCH_SIZE", 1)
    first = (await api.admit(tree.cell_a))["member_id"]
    temporary = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{first}/transfers",
        {"to": tree.other_cell, "kind": "temporary", "issued_on": "2025-06-01", "until": "2025-12-01",
         "decision": decision("2025-06-01")},
    )
    cancelled = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{first}/transfers/{temporary.json()['transfer_id']}/cancellation",
        {"cancelled_on": "2025-06-05"},
    )
    assert cancelled.status_code == 200, cancelled.text
    second = (await api.admit(tree.cell_a))["member_id"]
    await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{second}/transfers",
        {"to": tree.cell_b, "kind": "official", "issued_on": "2025-06-01", "decision": decision("2025-06-01")},
    )
    died = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{second}/removal",
        {"reason": "deceased", "effective_on": "2025-06-10", "decision": decision("2025-06-10")},
    )
    assert died.status_code == 200, died.text
    seen = died.json()["position"]
    assert [t for t in await _timeline(api, first, seen) if t[1] == tree.other_cell] == [
        ("TransferAnnounced", tree.other_cell), ("TransferWithdrawn", tree.other_cell),
    ]
    assert [t for t in await _timeline(api, second, seen) if t[1] == tree.cell_b] == [
        ("TransferAnnounced", tree.cell_b), ("TransferWithdrawn", tree.cell_b),
    ]


async def test_a_restated_report_carries_a_successor_s_history_from_before_it_existed(api: Api, tree: Tree) -> None:
    """On 1 July 2025 a commune committee founded that day takes over a district and its cells.
    Restated onto today's units, its report for 2021, before it existed, is the history of what
    it took over. An ended unit carries nothing once history is restated: 409, naming the unit
    that does. Neither changes the report as the tree stood."""
    await api.admit(tree.cell_a)
    await api.admit(tree.cell_b)
    successor = code("DL.XA")
    founded = await api.post(
        "/v1/organizations",
        {"code": successor, "name": "Đảng bộ xã A", "kind": "upper_grassroots", "parent": tree.province,
         "founded_on": "2025-07-01", "decision": decision("2025-07-01")},
    )
    assert founded.status_code == 201, founded.text
    merged = await api.post(
        f"/v1/organizations/{tree.commune}/restructurings",
        {"action": "merge", "into": successor, "effective_on": "2025-07-01", "decision": decision("2025-07-01")},
    )
    assert merged.status_code == 200, merged.text
    year = f"from=2021-01-01&to=2021-12-31&min_position={merged.json()['position']}"

    restated = await api.get(f"/v1/organizations/{successor}/report?{year}&restate=true")
    assert restated.status_code == 200, restated.text
    body = restated.json()
    assert (body["restated"], body["opening"], body["admitted"], body["closing"]) == (True, 0, 2, 2)
    assert {child["organization"]: child["admitted"] for child in body["children"]} == {tree.cell_a: 1, tree.cell_b: 1}

    as_it_stood = await api.get(f"/v1/organizations/{successor}/report?{year}")
    assert (as_it_stood.status_code, as_it_stood.json()["code"]) == (404, "organization-not-found")
    ended = await api.get(f"/v1/organizations/{tree.commune}/report?{year}&restate=true")
    assert (ended.status_code, ended.json()["code"]) == (409, "organization-not-active")
    assert successor in ended.json()["detail"]
    district = await api.get(f"/v1/organizations/{tree.commune}/report?{year}")
    assert (district.status_code, district.json()["admitted"], district.json()["closing"]) == (200, 2, 2)


async def test_every_row_of_a_report_stands_beside_the_same_period_of_the_previous_year_and_its_plan(
    api: Api, tree: Tree
) -> None:
    """Upper committees compare each child unit with the same period last year, against that
    year's plan: the organization's row and each child's carry `previous_year`."""
    for year, admissions in (("2021", 4), ("2022", 2)):
        for unit in (tree.commune, tree.cell_a):
            planned = await api.put(f"/v1/organizations/{unit}/plans/{year}", {"admissions": admissions})
            assert planned.status_code == 200, planned.text
    for _ in range(3):
        await api.admit(tree.cell_a)
    await api.admit(tree.cell_b)
    latest = await api.admit(tree.cell_a, admitted_on="2022-06-01", decision=decision("2022-05-20"))

    response = await api.get(
        f"/v1/organizations/{tree.commune}/report?from=2022-01-01&to=2022-12-31&min_position={latest['position']}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    last = body["previous_year"]
    assert (last["from"], last["to"], last["plan"], last["admitted"], last["achievement_pct"]) == (
        "2021-01-01", "2021-12-31", {"period": "2021", "admissions": 4}, 4, 100.0,
    )
    assert (last["opening"], last["closing"]) == (0, 4)
    assert (body["admitted"], body["achievement_pct"], body["opening"], body["closing"]) == (1, 50.0, 4, 5)
    rows = {child["organization"]: child for child in body["children"]}
    cell_a, cell_b = rows[tree.cell_a]["previous_year"], rows[tree.cell_b]["previous_year"]
    assert (cell_a["plan"], cell_a["admitted"], cell_a["achievement_pct"], cell_a["closing"]) == (
        {"period": "2021", "admissions": 4}, 3, 75.0, 3,
    )
    assert (cell_b["plan"], cell_b["admitted"], cell_b["achievement_pct"], cell_b["closing"]) == (None, 1, None, 1)
    assert rows[tree.cell_a]["achievement_pct"] == 50.0

    restated = (await api.get(f"/v1/organizations/{tree.commune}/report?from=2022-01-01&to=2022-12-31&restate=true")).json()
    assert restated["previous_year"]["achievement_pct"] == 100.0
    assert {c["organization"]: c["previous_year"]["admitted"] for c in restated["children"]} == {
        tree.cell_a: 3, tree.cell_b: 1,
    }


async def test_a_merger_and_the_moves_of_its_units_on_the_same_day_are_counted_once(api: Api, tree: Tree) -> None:
    """The 2025 reorganisation in one day: the province merges into another (its district moves
    there), the district's cells move on to a commune of that province, and the emptied district
    is dissolved, all on 1 July. Each report of 2025 closes on its roster: the members left the
    merged province once, not once with the district and again with each cell."""
    for _ in range(2):
        await api.admit(tree.cell_a)
    await api.admit(tree.cell_b)
    commune = await api.found(code("GL.X"), "upper_grassroots", tree.other)
    day = {"effective_on": "2025-07-01", "decision": decision("2025-06-20")}
    steps = [
        (tree.province, {"action": "merge", "into": tree.other}),
        (tree.cell_a, {"action": "reparent", "new_parent": commune}),
        (tree.cell_b, {"action": "reparent", "new_parent": commune}),
        (tree.commune, {"action": "dissolve"}),
    ]
    for unit, change in steps:
        response = await api.post(f"/v1/organizations/{unit}/restructurings", {**change, **day})
        assert response.status_code == 200, response.text
    seen = response.json()["position"]

    async def report(unit: str) -> dict[str, Any]:
        found = await api.get(f"/v1/organizations/{unit}/report?from=2025-01-01&to=2025-12-31&min_position={seen}")
        assert found.status_code == 200, found.text
        return dict(found.json())

    merged, receiving = await report(tree.province), await report(tree.other)
    assert (merged["opening"], merged["decreases"]["transferred_out"], merged["closing"]) == (3, 3, 0)
    assert merged["organizations"] == {"grassroots_committees": 0, "grassroots_cells": 0, "cells_under_committees": 0}
    assert (receiving["opening"], receiving["increases"]["transferred_in"], receiving["closing"]) == (0, 3, 3)
    assert receiving["organizations"]["grassroots_cells"] == 3  # cell_a, cell_b and other_cell
    roster = await api.get(f"/v1/organizations/{tree.other}/roster?as_of=2025-12-31&scope=subtree")
    assert roster.json()["total"] == receiving["closing"]
    assert [child["closing"] for child in (await report(commune))["children"]] == [2, 1]
