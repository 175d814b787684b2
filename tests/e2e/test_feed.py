"""The paged event feed, `GET /v1/events`: CloudEvents in global order, scoped by the tree as it
stood when each event was recorded, personal data only for roles that may see it."""

from __future__ import annotations

import re
from typing import Any

from service.feed import CLOUD_EVENT_TYPES, EVENT_TYPES
from tests.e2e.conftest import ADMIN_TOKEN, Api, Tree, admission, code, decision, person

PERSONAL = ("national_id", "birth_date", "ethnicity", "religion")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def read_all(api: Api, token: str, query: str = "", limit: int = 1000) -> list[dict[str, Any]]:
    """Every event the token is served, paging with next_after until it stops moving."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await api.get(f"/v1/events?after={after}&limit={limit}{query}", token)
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["events"]
        if page["next_after"] == after:
            return events
        assert page["next_after"] > after
        after = page["next_after"]


async def reparent(api: Api, org: str, new_parent: str, on: str = "2022-01-01") -> int:
    """Move an organization under another; return the position of the move."""
    response = await api.post(
        f"/v1/organizations/{org}/restructurings",
        {"action": "reparent", "effective_on": on, "new_parent": new_parent, "decision": decision(on)},
    )
    assert response.status_code == 200, response.text
    return int(response.json()["position"])


def test_every_event_class_has_a_cloud_events_type() -> None:
    """Each organization event has a stable `vn.dangvien.<subject>.<what happened>` name, none shared."""
    assert set(EVENT_TYPES) == set(CLOUD_EVENT_TYPES)
    names = list(CLOUD_EVENT_TYPES.values())
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"vn\.dangvien\.[a-z_]+\.[a-z_]+", name) for name in names)


async def test_an_admission_is_a_cloud_event_with_its_organization_member_time_and_decision(
    api: Api, tree: Tree
) -> None:
    """id is the position, source the cell, subject the member, data its effective date and decision."""
    body = admission()
    admitted = (await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)).json()
    events = await read_all(api, ADMIN_TOKEN, "&types=vn.dangvien.member.admitted")
    [event] = events
    assert event["specversion"] == "1.0"
    assert event["type"] == "vn.dangvien.member.admitted"
    assert event["source"] == f"/organizations/{tree.cell_a}"
    assert event["subject"] == admitted["member_id"]
    assert event["datacontenttype"] == "application/json"
    assert RFC3339_UTC.match(event["time"])
    # The cell's event comes just before the person registry's, which is not in the feed.
    assert int(event["id"]) == admitted["position"] - 1
    assert event["data"]["effective_on"] == body["admitted_on"]
    assert event["data"]["decision"]["number"] == body["decision"]["number"]
    assert event["data"]["person"]["national_id"] == body["person"]["national_id"]


async def test_paging_visits_every_organization_event_once_in_global_order(api: Api, tree: Tree) -> None:
    """Small pages with next_after give each event once, in order, and nothing of the registry."""
    for _ in range(3):
        await api.admit(tree.cell_a)
    small = await read_all(api, ADMIN_TOKEN, limit=2)
    whole = await read_all(api, ADMIN_TOKEN)
    ids = [int(event["id"]) for event in small]
    assert small == whole
    assert ids == sorted(set(ids))
    # Two roots founded with one event, four children with two (theirs and the parent's), and
    # three admissions with one each (the person registry's events are not in the feed).
    assert len(ids) == 2 * 1 + 4 * 2 + 3


async def test_a_subscriber_sees_only_the_events_recorded_in_its_subtree(api: Api, tree: Tree) -> None:
    """Events of the other province never reach a subscriber of the first, whatever the page size."""
    subscriber = await api.token("subscriber", tree.province)
    mine = await api.admit(tree.cell_a)
    await api.admit(tree.other_cell)
    seen = await read_all(api, subscriber, limit=1)
    sources = {event["source"] for event in seen}
    assert sources == {f"/organizations/{org}" for org in (tree.province, tree.commune, tree.cell_a, tree.cell_b)}
    assert mine["member_id"] in {event.get("subject") for event in seen}


async def test_the_feed_strips_personal_data_for_subscribers(api: Api, tree: Tree) -> None:
    """A subscriber learns that someone was admitted, not their national ID, birth date, ethnicity or religion."""
    subscriber = await api.token("subscriber", tree.province)
    subject = person()
    await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(person=subject))
    response = await api.get("/v1/events?types=vn.dangvien.member.admitted", subscriber)
    [event] = response.json()["events"]
    assert event["data"]["person"]["full_name"] == subject["full_name"]
    assert not set(PERSONAL) & event["data"]["person"].keys()
    assert subject["national_id"] not in response.text


async def test_the_feed_filters_by_type_by_cloud_events_name_or_class_name(api: Api, tree: Tree) -> None:
    """Types may be named either way, comma-separated or repeated."""
    await api.admit(tree.cell_a)
    by_name = await api.get("/v1/events?types=vn.dangvien.member.admitted,vn.dangvien.organization.renamed")
    by_class = await api.get("/v1/events?types=MemberAdmitted&types=Renamed")
    assert {event["type"] for event in by_name.json()["events"]} == {"vn.dangvien.member.admitted"}
    assert by_class.json() == by_name.json()


async def test_an_unknown_event_type_is_a_422_naming_types(api: Api) -> None:
    """A misspelt type is refused rather than silently matching nothing."""
    response = await api.get("/v1/events?types=vn.dangvien.member.admited")
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("invalid-value", "types")


async def test_a_negative_position_is_a_422_naming_after(api: Api) -> None:
    """after must be a position."""
    response = await api.get("/v1/events?after=-1")
    assert (response.status_code, response.json()["field"]) == (422, "after")


async def test_a_reader_may_not_follow_the_feed(api: Api, tree: Tree) -> None:
    """The feed is for subscribers (and administrators)."""
    reader = await api.token("reader", tree.province)
    assert (await api.get("/v1/events", reader)).status_code == 403


async def test_a_moved_organization_keeps_its_past_events_in_the_old_subtree(api: Api, tree: Tree) -> None:
    """An event belongs to the subtree where it was recorded: moving a cell to the other province
    neither takes its earlier events from the first province's subscriber nor gives them to the other's."""
    first = await api.token("subscriber", tree.province)
    other = await api.token("subscriber", tree.other)
    before = await api.admit(tree.cell_b)
    first_before_move = await read_all(api, first)
    moved_at = await reparent(api, tree.cell_b, tree.other)
    after = await api.admit(tree.cell_b)

    first_now = await read_all(api, first)
    other_now = await read_all(api, other)
    subjects_first = {event.get("subject") for event in first_now}
    subjects_other = {event.get("subject") for event in other_now}
    assert first_now[: len(first_before_move)] == first_before_move
    assert before["member_id"] in subjects_first and before["member_id"] not in subjects_other
    assert after["member_id"] in subjects_other and after["member_id"] not in subjects_first
    # The move itself is the moved cell's first event in its new subtree; the old parent's
    # detachment tells the first province the cell left.
    moved_cell = f"/organizations/{tree.cell_b}"
    [move] = [e for e in other_now if e["type"] == "vn.dangvien.organization.reparented"]
    assert move["source"] == moved_cell and int(move["id"]) <= moved_at
    assert min(int(e["id"]) for e in other_now if e["source"] == moved_cell) == int(move["id"])
    assert [e["data"]["child"] for e in first_now if e["type"] == "vn.dangvien.organization.child_detached"] == [
        tree.cell_b
    ]


async def test_a_subscriber_is_served_without_waiting_for_the_read_models(start_api: Any) -> None:
    """The feed places events in subtrees from the log itself, so it needs no projection runner."""
    async with start_api(projector=False) as api:
        province = await api.found(code("DL"), "provincial", None)
        cell = await api.found(code("DL.A"), "grassroots_cell", province)
        subscriber = await api.token("subscriber", province)
        page = (await api.get("/v1/events", subscriber)).json()
        assert sorted(event["source"] for event in page["events"]) == sorted(
            [f"/organizations/{province}", f"/organizations/{cell}", f"/organizations/{province}"]
        )
        assert page["next_after"] == api.head()
