"""Errors as problem+json: 409 for a broken rule with its code, 422 naming the field, never a 500 for bad input."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import ADMITTED_ON, Api, Tree, admission, decision, person

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert PROBLEM_KEYS <= body.keys()
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"].endswith("/" + code)
    return body


async def test_admitting_an_active_member_again_is_a_409_already_a_member(api: Api, tree: Tree) -> None:
    """The Charter's one-membership rule comes back with the ledger's code, and nothing is recorded."""
    body = admission()
    first = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)
    assert first.status_code == 201
    before = api.head()
    again = await api.post(f"/v1/organizations/{tree.cell_b}/admissions", {**body, "decision": decision()})
    problem = assert_problem(again, 409, "already-a-member")
    assert problem["title"] and problem["detail"]
    assert api.head() == before


async def test_a_refused_admission_does_not_tell_a_clerk_where_the_person_is_outside_the_clerk_s_scope(
    api: Api, tree: Tree
) -> None:
    """A clerk of another province who tries a national ID learns that the person is a member,
    not which cell of which province holds the person (a scoped token never sees that)."""
    body = admission()
    first = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)
    assert first.status_code == 201
    clerk = await api.token("clerk", tree.other)
    again = await api.post(f"/v1/organizations/{tree.other_cell}/admissions", {**body, "decision": decision()}, clerk)
    assert_problem(again, 409, "already-a-member")
    assert tree.cell_a not in again.text and tree.commune not in again.text and tree.province not in again.text


async def test_an_admission_dated_after_today_is_a_409_date_in_future_and_keeps_no_one_from_joining(
    api: Api, tree: Tree
) -> None:
    """The ledger records what has happened. A ceremony dated in 2029 is refused, nothing is
    recorded, and the person can be admitted today elsewhere; a removal dated next year too."""
    today = date.today()
    body = admission(person=person(birth_date="1990-01-01"))
    before = api.head()
    future = await api.post(
        f"/v1/organizations/{tree.other_cell}/admissions", {**body, "admitted_on": "2029-05-01"}
    )
    problem = assert_problem(future, 409, "date-in-future")
    assert "admitted_on" in problem["detail"]
    assert api.head() == before
    later_decision = await api.post(
        f"/v1/organizations/{tree.other_cell}/admissions",
        {**body, "admitted_on": today.isoformat(), "decision": decision((today + timedelta(days=3)).isoformat())},
    )
    assert "decision.issued_on" in assert_problem(later_decision, 409, "date-in-future")["detail"]
    admitted = await api.post(
        f"/v1/organizations/{tree.cell_a}/admissions",
        {**body, "admitted_on": today.isoformat(), "decision": decision(today.isoformat())},
    )
    assert admitted.status_code == 201, admitted.text
    next_year = (today + timedelta(days=366)).isoformat()
    removal = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted.json()['member_id']}/removal",
        {"reason": "deceased", "effective_on": next_year, "decision": decision(today.isoformat())},
    )
    assert_problem(removal, 409, "date-in-future")


async def test_admitting_a_seventeen_year_old_is_a_409_too_young(api: Api, tree: Tree) -> None:
    """Age is a rule of the Charter, so a 409 rather than a 422."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/admissions", admission(person=person(birth_date="2004-01-01"))
    )
    assert_problem(response, 409, "too-young")


async def test_confirming_before_probation_ends_is_a_409_probation_not_ended(api: Api, tree: Tree) -> None:
    """Probation lasts 12 months."""
    admitted = await api.admit(tree.cell_a)
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/confirmation",
        {"decided_on": "2021-09-01", "decision": decision("2021-09-01")},
    )
    assert_problem(response, 409, "probation-not-ended")


async def test_admitting_to_a_committee_is_a_409_organization_holds_no_members(api: Api, tree: Tree) -> None:
    """Only cells keep rosters."""
    response = await api.post(f"/v1/organizations/{tree.commune}/admissions", admission())
    assert_problem(response, 409, "organization-holds-no-members")


async def test_founding_a_code_twice_is_a_409_organization_exists(api: Api, tree: Tree) -> None:
    """Codes are never reused."""
    response = await api.post(
        "/v1/organizations",
        {"code": tree.cell_a, "name": "Again", "kind": "grassroots_cell", "parent": tree.commune, "founded_on": "2016-01-01"},
    )
    assert_problem(response, 409, "organization-exists")


async def test_an_invalid_domain_value_is_a_422_naming_the_field(api: Api, tree: Tree) -> None:
    """A plan period that is neither a year nor a term is named by the ledger's InvalidValue."""
    response = await api.put(f"/v1/organizations/{tree.commune}/plans/2025-2020", {"admissions": 10})
    body = assert_problem(response, 422, "invalid-value")
    assert body["field"] == "period"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"admitted_on": "2021-02-30"}, "admitted_on"),
        ({"admitted_on": "15/03/2021"}, "admitted_on"),
        ({"admitted_on": 1615766400}, "admitted_on"),
        ({"admitted_on": "2021-03-15T00:00:00"}, "admitted_on"),
        ({"admitted_on": "9999-12-31"}, "admitted_on"),
        ({"person": person(birth_date="1996-1-10")}, "person.birth_date"),
        ({"person": person(sex="unknown")}, "person.sex"),
        ({"person": person(education="kindergarten")}, "person.education"),
        ({"person": person(national_id=123456789012)}, "person.national_id"),
        ({"person": person(national_id="12345")}, "person.national_id"),
        ({"person": person(full_name="")}, "person.full_name"),
        ({"person": person(full_name="Nguyễn\x00Văn A")}, "person.full_name"),
        ({"person": person(youth_union_member="yes")}, "person.youth_union_member"),
        ({"person": "Nguyễn Văn A"}, "person"),
        ({"decision": {"number": "1-QĐ"}}, "decision.issued_on"),
        ({"decision": None}, "decision"),
        ({"hard_area": "true"}, "hard_area"),
    ],
)
async def test_malformed_admission_fields_are_422_naming_the_field(
    api: Api, tree: Tree, change: dict[str, Any], field: str
) -> None:
    """Bad dates, wrong types and unknown enum values are named, and nothing is recorded."""
    before = api.head()
    response = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", {**admission(), **change})
    body = assert_problem(response, 422, "invalid-value")
    assert body["field"] == field
    assert api.head() == before


async def test_a_missing_field_is_a_422_naming_it(api: Api, tree: Tree) -> None:
    """Leaving out `admitted_on` names it."""
    body = admission()
    del body["admitted_on"]
    response = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", body)
    assert assert_problem(response, 422, "invalid-value")["field"] == "admitted_on"


async def test_an_unknown_field_is_ignored(api: Api, tree: Tree) -> None:
    """Additional fields do no harm and are ignored."""
    response = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", {**admission(), "remarks": "ok"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "content",
    [b"[1, 2, 3]", b'"admission"', b"null", b"42", b"{not json", b"\xff\xfe\x00garbage", b'{"admitted_on": ' + b"9" * 5000 + b"}"],
)
async def test_a_body_that_is_not_a_json_object_is_a_422_malformed_request(
    api: Api, tree: Tree, content: bytes
) -> None:
    """Arrays, scalars, broken JSON, bad UTF-8 and numbers too long to read are all malformed requests."""
    response = await api.request(
        "POST", f"/v1/organizations/{tree.cell_a}/admissions", content=content,
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "malformed-request")
    assert body["field"] == "body"


async def test_a_missing_body_is_a_422_malformed_request(api: Api, tree: Tree) -> None:
    """A command needs a body."""
    response = await api.request("POST", f"/v1/organizations/{tree.cell_a}/admissions")
    assert_problem(response, 422, "malformed-request")


async def test_a_huge_number_is_a_422_naming_the_field(api: Api, tree: Tree) -> None:
    """An admissions target beyond reason is refused before it reaches the ledger."""
    response = await api.put(f"/v1/organizations/{tree.commune}/plans/2022", {"admissions": 10**30})
    assert assert_problem(response, 422, "invalid-value")["field"] == "admissions"


async def test_a_float_where_an_integer_belongs_is_a_422(api: Api, tree: Tree) -> None:
    """`1e400` reads as infinity; it is not a number of admissions."""
    response = await api.request(
        "PUT", f"/v1/organizations/{tree.commune}/plans/2022", content=b'{"admissions": 1e400}',
        headers={"Content-Type": "application/json"},
    )
    assert assert_problem(response, 422, "invalid-value")["field"] == "admissions"


async def test_a_malformed_uuid_in_the_path_is_a_422_naming_it(api: Api, tree: Tree) -> None:
    """A member id that is not a UUID is named, not looked up."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/not-a-uuid/confirmation",
        {"decided_on": "2022-03-20", "decision": decision()},
    )
    assert assert_problem(response, 422, "invalid-value")["field"] == "member_id"


async def test_a_malformed_code_in_the_path_is_a_422_naming_it(api: Api) -> None:
    """Codes are letters, digits, dots, dashes and underscores."""
    response = await api.get("/v1/organizations/not%20a%20code")
    assert assert_problem(response, 422, "invalid-value")["field"] == "code"


@pytest.mark.parametrize("query", ["as_of=2021-13-01", "as_of=yesterday", "min_position=-1", "min_position=99999999999999999999999"])
async def test_malformed_query_parameters_are_422_naming_them(api: Api, tree: Tree, query: str) -> None:
    """Dates and positions in the query string are checked as strictly as in bodies."""
    response = await api.get(f"/v1/organizations/{tree.province}?{query}")
    assert assert_problem(response, 422, "invalid-value")["field"] == query.split("=")[0]


async def test_a_report_ending_before_it_starts_is_a_422_naming_to(api: Api, tree: Tree) -> None:
    """`to` must not come before `from`."""
    response = await api.get(f"/v1/organizations/{tree.province}/report?from=2022-01-01&to=2021-01-01")
    assert assert_problem(response, 422, "invalid-value")["field"] == "to"


async def test_an_unknown_restructuring_action_is_a_422_naming_action(api: Api, tree: Tree) -> None:
    """The actions are rename, reparent, merge, split and dissolve."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "annex", "effective_on": "2025-07-01", "decision": decision()},
    )
    assert assert_problem(response, 422, "invalid-value")["field"] == "action"


async def test_a_rename_without_a_new_name_is_a_422_naming_new_name(api: Api, tree: Tree) -> None:
    """Which fields a restructuring needs depends on its action."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "rename", "effective_on": "2025-07-01", "decision": decision()},
    )
    assert assert_problem(response, 422, "invalid-value")["field"] == "new_name"


async def test_a_split_part_with_a_bad_member_id_is_a_422_naming_it(api: Api, tree: Tree) -> None:
    """Nested list fields are named with their index."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/restructurings",
        {"action": "split", "effective_on": "2025-07-01", "decision": decision(),
         "parts": [{"into": tree.cell_b, "members": ["nope"]}]},
    )
    assert assert_problem(response, 422, "invalid-value")["field"] == "parts[0].members[0]"


async def test_an_unknown_event_type_filter_is_a_422_naming_types(api: Api) -> None:
    """The feed filters by the ledger's event types only."""
    response = await api.get("/v1/events?types=MemberAdmitted,Nonsense")
    assert assert_problem(response, 422, "invalid-value")["field"] == "types"


async def test_a_validation_problem_does_not_echo_the_values_sent(api: Api, tree: Tree) -> None:
    """Personal data sent in a bad request is not repeated in the answer."""
    bad = person(birth_date="1996-02-31", national_id="0123456789012345")
    response = await api.post(f"/v1/organizations/{tree.cell_a}/admissions", {**admission(), "person": bad})
    assert response.status_code == 422
    assert bad["national_id"] not in response.text and "1996-02-31" not in response.text


async def test_an_unknown_route_is_a_404_problem(api: Api) -> None:
    """Even the router's refusals are problems."""
    assert_problem(await api.get("/v1/nowhere"), 404, "not-found")


async def test_a_wrong_method_is_a_405_problem(api: Api, tree: Tree) -> None:
    """DELETE is not part of the contract."""
    assert_problem(await api.request("DELETE", f"/v1/organizations/{tree.province}"), 405, "method-not-allowed")


async def test_a_body_over_the_limit_is_a_413_problem(api: Api, tree: Tree) -> None:
    """Huge bodies are refused before anything parses them."""
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/admissions", {**admission(), "padding": "x" * 2_000_000}
    )
    assert_problem(response, 413, "request-too-large")


async def test_a_temporary_transfer_without_an_end_is_a_409_invalid_transfer_duration(api: Api, tree: Tree) -> None:
    """Optional in the body, required by the Charter for a temporary transfer."""
    admitted = await api.admit(tree.cell_a)
    response = await api.post(
        f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers",
        {"to": tree.cell_b, "kind": "temporary", "issued_on": ADMITTED_ON, "decision": decision(ADMITTED_ON)},
    )
    assert_problem(response, 409, "invalid-transfer-duration")
