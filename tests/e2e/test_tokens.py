"""Tokens: issued by administrators, stored only as hashes, bootstrapped from the environment or made once."""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ADMIN_TOKEN, Api, Tree, code


def stored_token_rows(api: Api) -> list[tuple[Any, ...]]:
    """Every row of the tokens table, as stored."""
    rows = []
    with api.services.sql.transaction(write=False) as cur:
        cur.execute("SELECT token_hash, role, scope, label, created_at FROM tokens")
        while (row := cur.one()) is not None:
            rows.append(row)
    return rows


async def test_an_issued_token_is_stored_only_as_its_hash(api: Api, tree: Tree, database_url: str) -> None:
    """Neither the tokens table nor the database files hold the token in the clear."""
    token = await api.token("clerk", tree.province, label="btc.daklak")
    rows = stored_token_rows(api)
    assert all(token not in str(value) for row in rows for value in row)
    assert hashlib.sha256(token.encode()).hexdigest() in [row[0] for row in rows]
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        for file in glob.glob(path + "*"):
            assert token.encode() not in Path(file).read_bytes()


async def test_the_bootstrap_admin_token_is_stored_only_as_its_hash(api: Api) -> None:
    """The token from the environment is hashed too."""
    assert all(ADMIN_TOKEN not in str(value) for row in stored_token_rows(api) for value in row)


async def test_an_issued_token_answers_its_role_scope_and_label(api: Api, tree: Tree) -> None:
    """The answer shows the token once, with what it is for."""
    label = code("auditor")
    response = await api.post("/v1/tokens", {"role": "auditor", "scope": tree.province, "label": label})
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("dv_")
    assert (body["role"], body["scope"], body["label"]) == ("auditor", tree.province, label)


async def test_a_second_token_with_the_same_label_is_a_409(api: Api, tree: Tree) -> None:
    """Labels name who recorded an event, so they are unique."""
    label = code("clerk")
    await api.token("clerk", tree.province, label=label)
    response = await api.post("/v1/tokens", {"role": "clerk", "scope": tree.cell_a, "label": label})
    assert (response.status_code, response.json()["code"]) == (409, "token-label-taken")


async def test_a_scoped_token_for_an_unknown_organization_is_a_422_naming_scope(api: Api) -> None:
    """A typo in the scope would make a token that sees nothing."""
    response = await api.post("/v1/tokens", {"role": "clerk", "scope": code("NOWHERE"), "label": code("c")})
    assert (response.status_code, response.json()["field"]) == (422, "scope")


async def test_a_clerk_token_without_a_scope_is_a_422_naming_scope(api: Api) -> None:
    """Only administrators see everything."""
    response = await api.post("/v1/tokens", {"role": "clerk", "scope": None, "label": code("c")})
    assert (response.status_code, response.json()["field"]) == (422, "scope")


async def test_an_admin_token_with_a_scope_is_a_422_naming_scope(api: Api, tree: Tree) -> None:
    """Administrators are not scoped."""
    response = await api.post("/v1/tokens", {"role": "admin", "scope": tree.province, "label": code("a")})
    assert (response.status_code, response.json()["field"]) == (422, "scope")


async def test_an_unknown_role_is_a_422_naming_role(api: Api, tree: Tree) -> None:
    """The roles are admin, clerk, reader, auditor and subscriber."""
    response = await api.post("/v1/tokens", {"role": "superuser", "scope": tree.province, "label": code("x")})
    assert (response.status_code, response.json()["field"]) == (422, "role")


async def test_a_label_is_any_text_and_is_recorded_by_the_events_it_records(api: Api, tree: Tree) -> None:
    """A commission names its tokens in its own words; the label is each event's `recorded_by`."""
    label = f"Ban Tổ chức Tỉnh ủy Đắk Lắk {code('x')}"
    clerk = await api.token("clerk", tree.province, label=label)
    admitted = await api.admit(tree.cell_a, clerk)
    events = (await api.get(f"/v1/organizations/{tree.cell_a}/events?min_position={admitted['position']}")).json()
    assert events["events"][-1]["recorded_by"] == label


async def test_a_blank_label_or_one_with_control_characters_is_a_422_naming_label(api: Api, tree: Tree) -> None:
    """Labels go into every log line and event: text, at most 100 characters, on one line."""
    for label in ("  ", "clerk\nforged log line", "x" * 101):
        response = await api.post("/v1/tokens", {"role": "clerk", "scope": tree.province, "label": label})
        assert (response.status_code, response.json()["field"]) == (422, "label"), label


async def test_without_an_admin_token_the_service_makes_one_and_announces_it_once(start_api: Any) -> None:
    """The first start makes a working admin token; later starts make none and it keeps working."""
    announced: list[str] = []
    async with start_api(admin_token=None, announce_admin_token=announced.append) as api:
        assert len(announced) == 1
        made = announced[0]
        assert (await api.get("/v1/events", made)).status_code == 200
    async with start_api(admin_token=None, announce_admin_token=announced.append) as api:
        assert len(announced) == 1
        assert (await api.get("/v1/events", made)).status_code == 200


async def test_setting_the_admin_token_retires_the_one_made_at_first_start(start_api: Any) -> None:
    """DANGVIEN_ADMIN_TOKEN replaces the bootstrap token; the previous one stops working."""
    announced: list[str] = []
    async with start_api(admin_token=None, announce_admin_token=announced.append):
        pass
    async with start_api(admin_token="dv_rotated-admin-token") as api:
        assert (await api.get("/v1/events", announced[0])).status_code == 401
        assert (await api.get("/v1/events", "dv_rotated-admin-token")).status_code == 200
