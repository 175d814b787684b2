"""Commands through HTTP: each records through the ledger and answers the position of its last event."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import ADMITTED_ON, Api, Tree, admission, code, decision


def assert_recorded(api: Api, response: Any, status: int = 200) -> dict[str, Any]:
    """The command succeeded and its position is the newest in the log."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["position"] == api.head()
    return body


async def test_founding_answers_201_with_the_position_and_a_location(api: Api, tree: Tree) -> None:
    """The new organization's URL is in Location."""
    new = code("DL.BMT.C")
    response = await api.post(
        "/v1/organizations",
        {"code": new, "name": "Chi bộ thôn 3", "kind": "grassroots_cell", "parent": tree.commune,
         "founded_on": "2020-01-01", "decision": {"number": "12-QĐ/ĐU", "issued_on": "2019-12-20", "issued_by": tree.commune}},
    )
    assert assert_recorded(api, response, 201)["code"] == new
    assert response.headers["location"] == f"/v1/organizations/{new}"


async def test_an_admission_answers_the_member_its_probation_and_the_position(api: Api, tree: Tree) -> None:
    """The contract's admission answer, dates as YYYY-MM-DD."""
    response = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(hard_area=True))
    body = assert_recorded(api, response, 201)
    assert body.keys() == {"member_id", "status", "probation_ends_on", "position"}
    assert (body["status"], body["probation_ends_on"]) == ("probationary", "2022-03-15")
    assert response.headers["location"] == f"/v1/members/{body['member_id']}"


async def test_a_confirmation_answers_official_since_the_end_of_probation(api: Api, tree: Tree) -> None:
    """Decided later, effective the day probation ended."""
    admitted = await api.admit(tree.cell_a)
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/confirmation",
        {"decided_on": "2022-04-20", "decision": decision("2022-04-20")},
    )
    body = assert_recorded(api, response)
    assert (body["member_id"], body["status"], body["official_since"]) == (admitted["member_id"], "official", "2022-03-15")


async def test_an_official_transfer_is_issued_and_received(api: Api, tree: Tree) -> None:
    """Issue (201, a transfer id), then reception at the destination (200)."""
    admitted = await api.admit(tree.cell_a)
    issued = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers",
        {"to": tree.other_cell, "kind": "official", "issued_on": "2021-06-01", "decision": decision("2021-06-01")},
    )
    transfer_id = assert_recorded(api, issued, 201)["transfer_id"]
    received = await api.post(
        f"/v1/organizations/{tree.other_cell}/transfers/{transfer_id}/reception", {"received_on": "2021-06-20"}
    )
    assert assert_recorded(api, received)["transfer_id"] == transfer_id


async def test_a_temporary_transfer_for_study_ends_with_a_return(api: Api, tree: Tree) -> None:
    """Study may last up to two years; the return ends the stay at the host."""
    admitted = await api.admit(tree.cell_a)
    issued = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers",
        {"to": tree.cell_b, "kind": "temporary", "purpose": "study", "issued_on": "2021-06-01",
         "until": "2023-05-31", "decision": decision("2021-06-01")},
    )
    transfer_id = assert_recorded(api, issued, 201)["transfer_id"]
    await api.post(f"/v1/organizations/{tree.cell_b}/transfers/{transfer_id}/reception", {"received_on": "2021-06-10"})
    returned = await api.post(
        f"/v1/organizations/{tree.cell_b}/transfers/{transfer_id}/return", {"returned_on": "2022-06-01"}
    )
    assert_recorded(api, returned)


async def test_a_transfer_is_cancelled_before_reception(api: Api, tree: Tree) -> None:
    """The member stays on the sending roster."""
    admitted = await api.admit(tree.cell_a)
    issued = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers",
        {"to": tree.cell_b, "kind": "official", "issued_on": "2021-06-01", "decision": decision("2021-06-01")},
    )
    transfer_id = issued.json()["transfer_id"]
    cancelled = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers/{transfer_id}/cancellation",
        {"cancelled_on": "2021-06-05"},
    )
    assert assert_recorded(api, cancelled)["transfer_id"] == transfer_id


async def test_cancelling_a_transfer_the_member_does_not_have_open_is_a_404(api: Api, tree: Tree) -> None:
    """A stale or wrong transfer id never cancels the member's open transfer."""
    admitted = await api.admit(tree.cell_a)
    await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers",
        {"to": tree.cell_b, "kind": "official", "issued_on": "2021-06-01", "decision": decision("2021-06-01")},
    )
    head = api.head()
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers/"
        "00000000-0000-4000-8000-000000000000/cancellation",
        {"cancelled_on": "2021-06-05"},
    )
    assert (response.status_code, response.json()["code"]) == (404, "transfer-not-found")
    assert api.head() == head


async def test_a_removal_and_a_restoration(api: Api, tree: Tree) -> None:
    """Delisted wrongly, then restored on another cell (201, like an admission)."""
    body = admission()
    admitted = (await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)).json()
    removed = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/removal",
        {"reason": "delisted", "effective_on": "2021-09-01", "decision": decision("2021-08-25")},
    )
    assert assert_recorded(api, removed)["status"] == "removed"
    restored = await api.post(
        f"/v1/organizations/{tree.cell_b}/restorations",
        {"national_id": body["person"]["national_id"], "restored_on": "2022-01-10", "decision": decision("2022-01-05")},
    )
    answer = assert_recorded(api, restored, 201)
    assert (answer["member_id"], answer["status"]) == (admitted["member_id"], "probationary")


async def test_a_plan_is_set_and_revised(api: Api, tree: Tree) -> None:
    """PUT a year's target twice: the later one stands."""
    first = await api.put(f"/v1/organizations/{tree.commune}/plans/2022", {"admissions": 10})
    revised = await api.put(f"/v1/organizations/{tree.commune}/plans/2022", {"admissions": 12})
    assert_recorded(api, revised)
    assert revised.json()["position"] > first.json()["position"]
    assert revised.json()["admissions"] == 12


async def test_an_organization_is_renamed(api: Api, tree: Tree) -> None:
    """Rename answers the action and the position."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "rename", "new_name": "Chi bộ khu phố 1", "effective_on": "2025-07-01", "decision": decision("2025-07-01")},
    )
    assert assert_recorded(api, response)["action"] == "rename"


async def test_a_cell_is_merged_into_another_with_its_members(api: Api, tree: Tree) -> None:
    """Merging moves the members collectively; the merged cell then takes no admissions."""
    await api.admit(tree.cell_a)
    merged = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "merge", "into": tree.cell_b, "effective_on": "2025-07-01", "decision": decision("2025-07-01")},
    )
    assert_recorded(api, merged)
    refused = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(admitted_on="2025-08-01"))
    assert (refused.status_code, refused.json()["code"]) == (409, "organization-not-active")


async def test_a_cell_is_split_between_two_cells(api: Api, tree: Tree) -> None:
    """Every member goes to exactly one part."""
    first = await api.admit(tree.cell_a)
    second = await api.admit(tree.cell_a)
    new_cell = await api.found(code("DL.BMT.C"), "grassroots_cell", tree.commune)
    split = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "split", "effective_on": "2025-07-01", "decision": decision("2025-07-01"),
         "parts": [{"into": tree.cell_b, "members": [first["member_id"]]},
                   {"into": new_cell, "members": [second["member_id"]]}]},
    )
    assert_recorded(api, split)


async def test_a_split_that_leaves_a_member_out_is_a_409_allocation_incomplete(api: Api, tree: Tree) -> None:
    """The ledger refuses a split that forgets someone."""
    await api.admit(tree.cell_a)
    split = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "split", "effective_on": "2025-07-01", "decision": decision("2025-07-01"),
         "parts": [{"into": tree.cell_b}]},
    )
    assert (split.status_code, split.json()["code"]) == (409, "allocation-incomplete")


async def test_an_empty_cell_is_dissolved(api: Api, tree: Tree) -> None:
    """Dissolve needs no other field."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_b}/restructurings",
        {"action": "dissolve", "effective_on": "2025-07-01", "decision": decision("2025-07-01")},
    )
    assert_recorded(api, response)


async def test_a_client_reads_its_own_write_with_min_position(api: Api, tree: Tree) -> None:
    """The position a command answers is what a query waits for."""
    admitted = await api.admit(tree.cell_a)
    member = await api.get(f"/v1/members/{admitted['member_id']}?min_position={admitted['position']}")
    assert member.status_code == 200
    assert member.json()["member_id"] == admitted["member_id"]
    assert member.json()["admitted_on"] == ADMITTED_ON
