"""Proof that no record was altered: `GET /v1/organizations/{code}/verification` for auditors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Api, Tree


async def _verify(api: Api, code: str, token: str, **query: Any) -> dict[str, Any]:
    response = await api.get(f"/v1/organizations/{code}/verification", token, params=query)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _tamper(api: Api, position: int, change: Callable[[bytes], bytes | None]) -> None:
    """Rewrite (or, for None, delete) the stored event at a position behind the ledger's back, as
    someone with access to the database could."""
    recorder: Any = api.services.ledger.recorder
    postgres = type(recorder.datastore).__name__.startswith("Postgres")
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"' if postgres else recorder.events_table_name
    key, mark = ("notification_id", "%s") if postgres else ("rowid", "?")
    with recorder.datastore.transaction(commit=True) as curs:
        curs.execute(f"SELECT state FROM {table} WHERE {key} = {mark}", (position,))
        row = curs.fetchone()
        state = bytes(row["state"] if postgres else row[0])
        changed = change(state)
        if changed is None:
            curs.execute(f"DELETE FROM {table} WHERE {key} = {mark}", (position,))
        else:
            curs.execute(f"UPDATE {table} SET state = {mark} WHERE {key} = {mark}", (changed, position))


async def test_the_digest_through_a_position_stays_the_same_until_a_record_is_altered(api: Api, tree: Tree) -> None:
    """An auditor keeps the digest of the cell's stream through a position. Later events leave it
    as it was; a stored event rewritten behind the ledger's back changes it, and a damaged or
    removed event is found by the checks of the stream itself."""
    auditor = await api.token("auditor", tree.province)
    await api.admit(tree.cell_a)
    second = await api.admit(tree.cell_a)
    kept = await _verify(api, tree.cell_a, auditor, min_position=second["position"])
    trail = (await api.get(f"/v1/organizations/{tree.cell_a}/events", auditor)).json()["events"]
    [cell] = kept["organizations"]
    assert (kept["intact"], kept["scope"], kept["through"]) == (True, "self", api.head())
    assert (cell["organization"], cell["events"], cell["problems"]) == (tree.cell_a, len(trail), [])
    assert (cell["first_position"], cell["last_position"]) == (trail[0]["position"], trail[-1]["position"])
    assert len(kept["digest"]) == len(cell["digest"]) == 64

    later = await api.admit(tree.cell_a)
    again = await _verify(api, tree.cell_a, auditor, through=kept["through"], min_position=later["position"])
    assert (again["digest"], again["events"]) == (kept["digest"], kept["events"])
    now = await _verify(api, tree.cell_a, auditor)
    assert now["events"] == kept["events"] + 1 and now["digest"] != kept["digest"] and now["intact"]

    # A name rewritten in place: the stream still reads, but the digest kept no longer matches.
    first_admitted, second_admitted = (event["position"] for event in trail[1:3])
    _tamper(api, first_admitted, lambda state: state.replace(b'"full_name":"', b'"full_name":"X', 1))
    altered = await _verify(api, tree.cell_a, auditor, through=kept["through"])
    assert altered["digest"] != kept["digest"] and altered["intact"]

    # Removed: a version is missing. Damaged: it no longer reads back.
    last_admitted = now["organizations"][0]["last_position"]
    _tamper(api, second_admitted, lambda state: None)
    _tamper(api, last_admitted, lambda state: state[:20])
    broken = await _verify(api, tree.cell_a, auditor)
    [problems] = [unit["problems"] for unit in broken["organizations"]]
    assert broken["intact"] is False
    assert sum("where version" in problem for problem in problems) == 1  # one gap, said once
    assert any(f"position {last_admitted}" in problem and "read back" in problem for problem in problems)


async def test_a_subtree_is_verified_stream_by_stream_within_the_auditor_s_scope(api: Api, tree: Tree) -> None:
    """Every organization of the subtree has its own digest, and one digest covers them all;
    an auditor of another province, a reader and a bad `through` are refused."""
    auditor = await api.token("auditor", tree.province)
    admitted = await api.admit(tree.cell_b)
    whole = await _verify(api, tree.province, auditor, scope="subtree", min_position=admitted["position"])
    codes = [unit["organization"] for unit in whole["organizations"]]
    assert codes == sorted([tree.province, tree.commune, tree.cell_a, tree.cell_b])
    assert whole["intact"] and whole["events"] == sum(unit["events"] for unit in whole["organizations"])
    single = await _verify(api, tree.cell_b, auditor)
    [cell_b] = [unit for unit in whole["organizations"] if unit["organization"] == tree.cell_b]
    assert single["organizations"][0]["digest"] == cell_b["digest"]

    outsider = await api.token("auditor", tree.other)
    assert (await api.get(f"/v1/organizations/{tree.province}/verification", outsider)).status_code == 403
    reader = await api.token("reader", tree.province)
    assert (await api.get(f"/v1/organizations/{tree.province}/verification", reader)).status_code == 403
    ahead = await api.get(f"/v1/organizations/{tree.province}/verification?through={api.head() + 1000}", auditor)
    assert (ahead.status_code, ahead.json()["field"]) == (422, "through")
    unknown = await api.get("/v1/organizations/NO-SUCH/verification", auditor)
    assert unknown.status_code in (403, 404)
