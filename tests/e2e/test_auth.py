"""Bearer tokens: 401 without a known token, 403 outside a token's role or scope, and no leaks in a 403."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.e2e.conftest import ADMITTED_ON, Api, Tree, admission, code, decision


async def test_a_request_without_a_token_is_refused_with_401(api: Api, tree: Tree) -> None:
    """No Authorization header: 401 problem, with a Bearer challenge."""
    response = await api.get(f"/v1/organizations/{tree.province}", token=None)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"


async def test_an_unknown_token_is_refused_with_401(api: Api, tree: Tree) -> None:
    """A token the service never issued is refused like a missing one."""
    response = await api.get(f"/v1/organizations/{tree.province}", token="dv_not-a-real-token")
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


async def test_a_command_without_a_token_is_refused_with_401_before_its_body_is_checked(api: Api) -> None:
    """An anonymous caller learns nothing about what the body should look like."""
    response = await api.post("/v1/organizations", {"nonsense": True}, token=None)
    assert response.status_code == 401


async def test_a_basic_authorization_header_is_refused_with_401(api: Api, tree: Tree) -> None:
    """Only bearer tokens are accepted."""
    response = await api.get(
        f"/v1/organizations/{tree.province}", token=None, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("role", ["reader", "auditor", "subscriber"])
async def test_only_clerks_and_admins_record_events(api: Api, tree: Tree, role: str) -> None:
    """Readers, auditors and subscribers get 403 on a command inside their own scope, and nothing is recorded."""
    token = await api.token(role, tree.province)
    before = api.head()
    response = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(), token)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert api.head() == before


async def test_a_clerk_records_events_inside_its_subtree(api: Api, tree: Tree) -> None:
    """A clerk of the province admits to a cell two levels down."""
    clerk = await api.token("clerk", tree.province)
    response = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(), clerk)
    assert response.status_code == 201


async def test_a_clerk_records_events_as_its_label(api: Api, tree: Tree) -> None:
    """The ledger keeps the token's label as `recorded_by`."""
    clerk = await api.token("clerk", tree.province, label="btc.daklak")
    admitted = await api.admit(tree.cell_a, clerk)
    events = await api.get(f"/v1/organizations/{tree.cell_a}/events?min_position={admitted['position']}")
    assert events.json()["events"][-1]["recorded_by"] == "btc.daklak"


async def test_a_clerk_gets_403_outside_its_subtree(api: Api, tree: Tree) -> None:
    """A clerk of one province cannot admit to a cell of another."""
    clerk = await api.token("clerk", tree.province)
    before = api.head()
    response = await api.post(f"/v1/organizations/{tree.other_cell}/admissions", admission(), clerk)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert api.head() == before


async def test_a_clerk_scoped_to_a_cell_cannot_record_on_its_parent(api: Api, tree: Tree) -> None:
    """Scope is the subtree below the token's organization, never above it."""
    clerk = await api.token("clerk", tree.cell_a)
    response = await api.put(f"/v1/organizations/{tree.commune}/plans/2022", {"admissions": 10}, clerk)
    assert response.status_code == 403


async def test_a_403_for_an_unknown_organization_looks_like_one_for_an_existing_one(api: Api, tree: Tree) -> None:
    """A scoped token cannot probe which codes exist outside its subtree."""
    clerk = await api.token("clerk", tree.province)
    existing = await api.post(f"/v1/organizations/{tree.other_cell}/admissions", admission(), clerk)
    unknown = await api.post(f"/v1/organizations/{code('NOWHERE')}/admissions", admission(), clerk)
    assert existing.status_code == unknown.status_code == 403
    assert existing.json()["detail"] == unknown.json()["detail"]


async def test_an_administrator_gets_404_for_an_unknown_organization(api: Api) -> None:
    """With nothing outside its scope, an administrator learns that a code is unknown."""
    response = await api.post(f"/v1/organizations/{code('NOWHERE')}/admissions", admission())
    assert (response.status_code, response.json()["code"]) == (404, "organization-not-found")


async def test_a_clerk_gets_404_for_an_unknown_member_of_a_cell_in_its_scope(api: Api, tree: Tree) -> None:
    """Inside its scope a clerk is told the member is not on the roster."""
    clerk = await api.token("clerk", tree.province)
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{uuid4()}/confirmation",
        {"decided_on": "2022-03-20", "decision": decision("2022-03-20")},
        clerk,
    )
    assert (response.status_code, response.json()["code"]) == (404, "member-not-found")


async def test_only_an_administrator_founds_a_root_organization(api: Api, tree: Tree) -> None:
    """A clerk of a province cannot found a new province."""
    clerk = await api.token("clerk", tree.province)
    response = await api.post(
        "/v1/organizations",
        {"code": code("HN"), "name": "Hà Nội", "kind": "provincial", "parent": None, "founded_on": "2015-01-01"},
        clerk,
    )
    assert response.status_code == 403


async def test_a_clerk_founds_an_organization_under_its_subtree(api: Api, tree: Tree) -> None:
    """Founding is judged by the parent, which must be in scope."""
    clerk = await api.token("clerk", tree.province)
    await api.found(code("DL.BMT.C"), "grassroots_cell", tree.commune, clerk)


async def test_a_clerk_cannot_move_an_organization_out_of_its_subtree(api: Api, tree: Tree) -> None:
    """Every organization a restructuring changes must be in scope: here the new parent is not."""
    clerk = await api.token("clerk", tree.province)
    response = await api.post(
        f"/v1/organizations/{tree.cell_b}/restructurings",
        {"action": "reparent", "new_parent": tree.other, "effective_on": "2025-07-01", "decision": decision("2025-07-01")},
        clerk,
    )
    assert response.status_code == 403


async def test_a_clerk_scope_follows_a_reparenting_at_once(api: Api, tree: Tree) -> None:
    """Once a cell moves under another province, that province's clerk may record on it immediately."""
    clerk_other = await api.token("clerk", tree.other)
    moved = await api.post(
        f"/v1/organizations/{tree.cell_b}/restructurings",
        {"action": "reparent", "new_parent": tree.other, "effective_on": "2025-07-01", "decision": decision("2025-07-01")},
    )
    assert moved.status_code == 200, moved.text
    response = await api.post(
        f"/v1/organizations/{tree.cell_b}/admissions", admission(admitted_on="2025-08-01", decision=decision("2025-07-15")),
        clerk_other,
    )
    assert response.status_code == 201, response.text


async def test_a_reader_reads_rosters_in_its_subtree(api: Api, tree: Tree) -> None:
    """Rosters are what a reader is for."""
    reader = await api.token("reader", tree.commune)
    admitted = await api.admit(tree.cell_a)
    roster = await api.get(f"/v1/organizations/{tree.cell_a}/roster?min_position={admitted['position']}", reader)
    assert (roster.status_code, roster.json()["total"]) == (200, 1)


async def test_a_reader_reads_reports_in_its_subtree(api: Api, tree: Tree) -> None:
    """Reports are what a reader is for."""
    reader = await api.token("reader", tree.commune)
    admitted = await api.admit(tree.cell_a)
    report = await api.get(
        f"/v1/organizations/{tree.commune}/report?from=2021-01-01&to=2021-12-31&min_position={admitted['position']}",
        reader,
    )
    assert (report.status_code, report.json()["admitted"]) == (200, 1), report.text


async def test_a_reader_gets_403_outside_its_subtree(api: Api, tree: Tree) -> None:
    """The sibling province's roster is out of reach."""
    reader = await api.token("reader", tree.province)
    response = await api.get(f"/v1/organizations/{tree.other_cell}/roster", reader)
    assert response.status_code == 403


async def test_a_scoped_reader_gets_403_for_an_unknown_organization(api: Api, tree: Tree) -> None:
    """Unknown codes are outside every subtree."""
    reader = await api.token("reader", tree.province)
    response = await api.get(f"/v1/organizations/{code('NOWHERE')}", reader)
    assert response.status_code == 403


async def test_a_reader_cannot_read_member_histories(api: Api, tree: Tree) -> None:
    """Member histories are for auditors, clerks and administrators."""
    reader = await api.token("reader", tree.province)
    admitted = await api.admit(tree.cell_a)
    response = await api.get(f"/v1/members/{admitted['member_id']}?min_position={admitted['position']}", reader)
    assert response.status_code == 403


async def test_a_reader_cannot_read_event_trails(api: Api, tree: Tree) -> None:
    """Event trails are for auditors."""
    reader = await api.token("reader", tree.province)
    response = await api.get(f"/v1/organizations/{tree.cell_a}/events", reader)
    assert response.status_code == 403


async def test_an_auditor_reads_member_histories_with_personal_data(api: Api, tree: Tree) -> None:
    """An auditor verifies members, so it sees their identity."""
    auditor = await api.token("auditor", tree.province)
    admitted = await api.admit(tree.cell_a)
    response = await api.get(f"/v1/members/{admitted['member_id']}?min_position={admitted['position']}", auditor)
    assert response.status_code == 200
    assert "national_id" in response.json()["person"]


async def test_an_auditor_gets_403_for_a_member_outside_its_subtree(api: Api, tree: Tree) -> None:
    """A member of another province's cell is out of reach."""
    auditor = await api.token("auditor", tree.province)
    admitted = await api.admit(tree.other_cell)
    response = await api.get(f"/v1/members/{admitted['member_id']}?min_position={admitted['position']}", auditor)
    assert response.status_code == 403


async def test_a_scoped_auditor_gets_403_for_an_unknown_member(api: Api, tree: Tree) -> None:
    """An unknown member id is outside every subtree."""
    auditor = await api.token("auditor", tree.province)
    response = await api.get(f"/v1/members/{uuid4()}", auditor)
    assert response.status_code == 403


async def test_an_administrator_gets_404_for_an_unknown_member(api: Api) -> None:
    """The administrator is told the member does not exist."""
    response = await api.get(f"/v1/members/{uuid4()}")
    assert (response.status_code, response.json()["code"]) == (404, "member-not-found")


async def test_finding_a_member_by_national_id_shows_only_members_in_scope(api: Api, tree: Tree) -> None:
    """Verification by national ID answers an empty list outside the caller's subtree."""
    auditor = await api.token("auditor", tree.province)
    body = admission()
    admitted = await api.post(f"/v1/organizations/{tree.other_cell}/admissions", body)
    nid = body["person"]["national_id"]
    position = admitted.json()["position"]
    mine = await api.get(f"/v1/members?national_id={nid}&min_position={position}", auditor)
    everyone = await api.get(f"/v1/members?national_id={nid}")
    assert mine.json()["members"] == []
    assert [m["member_id"] for m in everyone.json()["members"]] == [admitted.json()["member_id"]]


@pytest.mark.parametrize("role", ["reader", "auditor", "clerk"])
async def test_only_subscribers_and_administrators_follow_the_feed(api: Api, tree: Tree, role: str) -> None:
    """The event feed is the subscriber's."""
    token = await api.token(role, tree.province)
    response = await api.get("/v1/events", token)
    assert response.status_code == 403


async def test_a_subscriber_cannot_read_rosters(api: Api, tree: Tree) -> None:
    """A subscriber follows the feed and nothing else."""
    subscriber = await api.token("subscriber", tree.province)
    response = await api.get(f"/v1/organizations/{tree.cell_a}/roster", subscriber)
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["clerk", "reader", "auditor", "subscriber"])
async def test_only_an_administrator_issues_tokens(api: Api, tree: Tree, role: str) -> None:
    """Tokens are issued by administrators."""
    token = await api.token(role, tree.province)
    response = await api.post("/v1/tokens", {"role": "clerk", "scope": tree.cell_a, "label": code("x")}, token)
    assert response.status_code == 403


async def test_a_clerk_token_records_a_transfer_to_any_organization(api: Api, tree: Tree) -> None:
    """Transfers cross provinces: only the sending cell must be in the clerk's scope."""
    clerk = await api.token("clerk", tree.province)
    admitted = await api.admit(tree.cell_a, clerk)
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers",
        {"to": tree.other_cell, "kind": "official", "issued_on": "2021-06-01", "decision": decision("2021-06-01")},
        clerk,
    )
    assert response.status_code == 201, response.text


async def test_the_receiving_clerk_needs_the_destination_in_scope(api: Api, tree: Tree) -> None:
    """The reception is recorded by the destination's clerk, not the sender's."""
    sender = await api.token("clerk", tree.province)
    admitted = await api.admit(tree.cell_a, sender)
    issued = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers",
        {"to": tree.other_cell, "kind": "official", "issued_on": ADMITTED_ON, "decision": decision(ADMITTED_ON)},
        sender,
    )
    transfer_id = issued.json()["transfer_id"]
    refused = await api.post(
        f"/v1/organizations/{tree.other_cell}/transfers/{transfer_id}/reception", {"received_on": "2021-04-01"}, sender
    )
    receiver = await api.token("clerk", tree.other)
    received = await api.post(
        f"/v1/organizations/{tree.other_cell}/transfers/{transfer_id}/reception", {"received_on": "2021-04-01"}, receiver
    )
    assert (refused.status_code, received.status_code) == (403, 200)
