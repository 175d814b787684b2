"""Logs: one JSON line per request with its route template, and no personal data in any line."""

from __future__ import annotations

from tests.e2e.conftest import Api, Tree, admission, person


async def test_each_request_logs_one_line_with_route_status_duration_token_and_request_id(api: Api, tree: Tree) -> None:
    """The line names the route template, not the path with its codes and ids."""
    clerk = await api.token("clerk", tree.province, label="btc.daklak")
    admitted = await api.admit(tree.cell_a, clerk)
    lines = [line for line in api.log_lines() if line.get("event") == "request"]
    admissions = [line for line in lines if line["route"] == "/v1/organizations/{code}/admissions"]
    assert len(admissions) == 1
    line = admissions[0]
    assert (line["method"], line["status"], line["token"]) == ("POST", 201, "btc.daklak")
    assert isinstance(line["duration_ms"], float) and line["request_id"]
    assert admitted["member_id"] not in str(lines)


async def test_the_request_id_is_answered_in_a_header_and_logged(api: Api) -> None:
    """A client's own X-Request-ID is kept when it is sane."""
    response = await api.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert any(line.get("request_id") == "trace-42" for line in api.log_lines())


async def test_an_unmatched_path_is_logged_as_unmatched(api: Api) -> None:
    """Random paths do not become log fields or metric labels."""
    await api.get("/v1/no/such/012345678901")
    line = [line for line in api.log_lines() if line.get("event") == "request"][-1]
    assert (line["route"], line["status"]) == ("unmatched", 404)
    assert "012345678901" not in api.log.getvalue()


async def test_no_log_line_carries_personal_data(api: Api, tree: Tree) -> None:
    """Admitting, reading, finding and failing to admit a person leave no trace of who they are."""
    subject = person(full_name="Hoàng Thị Bí Mật", ethnicity="H'Mông", religion="Phật giáo", birth_date="1990-07-14")
    body = admission(person=subject)
    admitted = (await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)).json()
    await api.get(f"/v1/members/{admitted['member_id']}?min_position={admitted['position']}")
    await api.get(f"/v1/members?national_id={subject['national_id']}")
    await api.post(f"/v1/organizations/{tree.cell_b}/admissions", body)  # already a member
    await api.post(
        f"/v1/organizations/{tree.cell_b}/admissions", {**body, "person": {**subject, "birth_date": "1990-02-30"}}
    )
    await api.get(f"/v1/organizations/{tree.cell_a}/events")
    await api.get("/v1/events")
    text = api.log.getvalue()
    assert text
    for value in (subject["national_id"], subject["full_name"], "H'Mông", "Phật giáo", "1990-07-14", "1990-02-30"):
        assert value not in text
