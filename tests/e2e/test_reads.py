"""Queries: read-your-writes with min_position, personal data by role, the event feed and its stream."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api, Tree, admission, person

PERSONAL = ("national_id", "birth_date", "ethnicity", "religion")


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


async def test_a_subscriber_sees_only_its_subtree_in_the_feed(api: Api, tree: Tree) -> None:
    """Events of the other province do not reach a subscriber of the first."""
    subscriber = await api.token("subscriber", tree.province)
    mine = await api.admit(tree.cell_a)
    await api.admit(tree.other_cell)
    response = await api.get(f"/v1/events?limit=1000&min_position={api.head()}", subscriber)
    sources = {event["source"] for event in response.json()["events"]}
    assert tree.other not in sources and tree.other_cell not in sources
    assert tree.cell_a in sources
    assert mine["member_id"] in {event.get("subject") for event in response.json()["events"]}


async def test_the_feed_strips_personal_data_for_subscribers(api: Api, tree: Tree) -> None:
    """A subscriber learns that someone was admitted, not their national ID, birth date, ethnicity or religion."""
    subscriber = await api.token("subscriber", tree.province)
    subject = person()
    admitted = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", admission(person=subject))
    response = await api.get(
        f"/v1/events?types=MemberAdmitted&min_position={admitted.json()['position']}", subscriber
    )
    [event] = response.json()["events"]
    assert event["data"]["person"]["full_name"] == subject["full_name"]
    assert not set(PERSONAL) & event["data"]["person"].keys()
    assert subject["national_id"] not in response.text


async def test_the_feed_is_cloud_events_in_global_order_without_gaps_or_repeats(api: Api, tree: Tree) -> None:
    """Paging with next_after visits every organization event once, in order."""
    for _ in range(3):
        await api.admit(tree.cell_a)
    seen: list[int] = []
    after = 0
    while True:
        page = (await api.get(f"/v1/events?after={after}&limit=2")).json()
        if not page["events"]:
            break
        for event in page["events"]:
            assert event["specversion"] == "1.0"
            assert {"id", "source", "type", "time", "data"} <= event.keys()
            seen.append(int(event["id"]))
        after = page["next_after"]
    assert seen == sorted(set(seen))
    # Two roots found with one event, four children with two (theirs and the parent's), and
    # three admissions with one each (the person registry's events are not in the feed).
    assert len(seen) == 2 * 1 + 4 * 2 + 3


async def test_a_subscriber_is_served_only_what_the_read_models_have_applied(start_api: Any) -> None:
    """Without the runner, nothing can be placed in a subtree yet, so nothing is skipped: the page is empty."""
    async with start_api(projector=False) as api:
        province = await api.found("DL-horizon", "provincial", None)
        subscriber = await api.token("subscriber", province)
        page = (await api.get("/v1/events", subscriber)).json()
        assert page == {"events": [], "next_after": 0}


async def test_the_feed_filters_by_type(api: Api, tree: Tree) -> None:
    """Only the types asked for, comma-separated or repeated."""
    await api.admit(tree.cell_a)
    response = await api.get("/v1/events?types=MemberAdmitted&types=Renamed")
    assert {event["type"] for event in response.json()["events"]} == {"MemberAdmitted"}


async def test_the_event_stream_resumes_after_last_event_id(api: Api, tree: Tree) -> None:
    """Reconnecting with Last-Event-ID gives exactly the later events."""
    first = await api.get("/v1/events/stream")
    assert first.headers["content-type"].startswith("text/event-stream")
    ids = [int(line[4:]) for line in first.text.splitlines() if line.startswith("id: ")]
    assert ids == sorted(set(ids)) and ids
    admitted = await api.admit(tree.cell_a)
    resumed = await api.get("/v1/events/stream", headers={"Last-Event-ID": str(ids[-1])})
    later = [int(line[4:]) for line in resumed.text.splitlines() if line.startswith("id: ")]
    assert later == [admitted["position"] - 1]  # the cell's event; the registry's is not in the feed
    assert f'"subject":"{admitted["member_id"]}"' in resumed.text


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
