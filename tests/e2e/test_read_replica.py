"""Reads from a streaming replica: rosters and reports come from it, and a client still reads its
own writes when the replica lags, because a query with `min_position` goes to the primary then."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Api, code, running, settings_for
from tests.replication import paused_replay, primary_and_replica, replicated_database, wait_caught_up

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, str]]:
    """A PostgreSQL primary and a streaming replica, for this module."""
    with primary_and_replica() as urls:
        yield urls


@pytest.fixture
def database(cluster: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """A fresh database: its URL on the primary and on the replica."""
    with replicated_database(*cluster) as urls:
        yield urls


async def found_cell(api: Api) -> str:
    province = await api.found(code("KT"), "provincial", None)
    commune = await api.found(code("KT.XA"), "upper_grassroots", province)
    return await api.found(code("KT.XA.T1"), "grassroots_cell", commune)


async def test_rosters_and_reports_are_read_from_the_replica(database: tuple[str, str]) -> None:
    """Queries without min_position show what the replica has replayed, and no more."""
    primary, replica = database
    async with running(settings_for(primary, read_database_url=replica)) as api:
        cell = await found_cell(api)
        first = await api.admit(cell)
        await api.get(f"/v1/organizations/{cell}/roster", params={"min_position": first["position"]})
        wait_caught_up(primary, replica)
        period = {"from": "2021-01-01", "to": "2021-12-31"}
        with paused_replay(replica):
            second = await api.admit(cell)
            # The primary's read models have it; the paused replica does not.
            await api.get(f"/v1/organizations/{cell}/roster", params={"min_position": second["position"]})
            roster = await api.get(f"/v1/organizations/{cell}/roster")
            report = await api.get(f"/v1/organizations/{cell}/report", params=period)
        wait_caught_up(primary, replica)
        caught_up = await api.get(f"/v1/organizations/{cell}/report", params=period)
    assert roster.json()["total"] == 1
    assert report.json()["admitted"] == 1
    assert caught_up.json()["admitted"] == 2


async def test_a_client_reads_its_own_write_while_the_replica_lags(database: tuple[str, str]) -> None:
    """With replay paused, the replica misses the new member; min_position makes the primary answer."""
    primary, replica = database
    async with running(settings_for(primary, read_database_url=replica)) as api:
        cell = await found_cell(api)
        first = await api.admit(cell)
        await api.get(f"/v1/organizations/{cell}/roster", params={"min_position": first["position"]})
        wait_caught_up(primary, replica)
        with paused_replay(replica):
            second = await api.admit(cell)
            lagging = await api.get(f"/v1/organizations/{cell}/roster")
            own_write = await api.get(f"/v1/organizations/{cell}/roster", params={"min_position": second["position"]})
    assert lagging.json()["total"] == 1, "the replica was expected to lag behind the primary"
    assert own_write.status_code == 200
    assert own_write.json()["total"] == 2
    assert {m["member_id"] for m in own_write.json()["members"]} == {first["member_id"], second["member_id"]}
