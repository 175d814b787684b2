"""The AsyncAPI 3.0 document of the feed, `GET /asyncapi.json`: a valid AsyncAPI 3.0 document whose
payload and header schemas accept what the stream and the webhooks really send."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from service.feed import CLOUD_EVENT_TYPES
from tests.e2e.conftest import Api, Tree, decision
from tests.e2e.serving import Receiver

with warnings.catch_warnings():
    # The library's models name a field `schema`, as the spec does; pydantic warns about it.
    warnings.simplefilter("ignore", UserWarning)
    from asyncapi3.models.asyncapi import AsyncAPI3


def schema_of(document: dict[str, Any], name: str) -> Any:
    """A validator for one schema of the document's components, its references resolved in the document."""
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": document["components"],
    }
    return jsonschema_rs.validator_for(root, validate_formats=True)


def references(value: Any) -> Iterator[str]:
    """Every `$ref` in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def resolve(document: dict[str, Any], pointer: str) -> Any:
    """The value a local JSON pointer (`#/a/b`) names; KeyError if there is none."""
    assert pointer.startswith("#/"), pointer
    value: Any = document
    for part in pointer[2:].split("/"):
        value = value[part.replace("~1", "/").replace("~0", "~")]
    return value


async def test_the_document_is_valid_asyncapi_3_without_a_token(api: Api) -> None:
    """Served beside /openapi.json to anyone; the AsyncAPI 3.0 object model accepts it whole."""
    response = await api.get("/asyncapi.json", token=None)
    assert response.status_code == 200
    document = response.json()
    parsed = AsyncAPI3.model_validate(document)
    assert parsed.asyncapi == "3.0.0"
    assert document["servers"]["api"] == {
        "host": "dangvien.test", "protocol": "http", "description": "The dangvien HTTP API.",
        "security": [{"$ref": "#/components/securitySchemes/bearer"}],
    }
    assert {op["channel"]["$ref"] for op in document["operations"].values()} == {
        "#/channels/eventStream", "#/channels/webhook",
    }
    assert document["channels"]["eventStream"]["address"] == "/v1/events/stream"


async def test_every_reference_in_the_document_resolves(api: Api) -> None:
    """No `$ref` points at nothing."""
    document = (await api.get("/asyncapi.json", token=None)).json()
    found = list(references(document))
    assert found
    for pointer in found:
        resolve(document, pointer)


async def test_the_event_types_in_the_document_are_those_of_the_feed(api: Api) -> None:
    """The schema's `type` enumeration lists every CloudEvents type, and no other."""
    document = (await api.get("/asyncapi.json", token=None)).json()
    listed = document["components"]["schemas"]["CloudEvent"]["properties"]["type"]["enum"]
    assert sorted(listed) == sorted(CLOUD_EVENT_TYPES.values())


async def test_the_payload_schema_accepts_every_event_the_feed_sends_and_refuses_others(api: Api, tree: Tree) -> None:
    """Events of the tree and of members, with and without personal data, fit the CloudEvent schema."""
    document = (await api.get("/asyncapi.json", token=None)).json()
    validator = schema_of(document, "CloudEvent")
    admitted = await api.admit(tree.cell_a)
    recorded = [
        await api.post(f"/v1/organizations/{tree.cell_a}/members/{admitted['member_id']}/transfers", {
            "to": tree.cell_b, "kind": "official", "issued_on": "2022-01-10", "decision": decision("2022-01-10"),
        }),
        await api.put(f"/v1/organizations/{tree.province}/plans/2024", {"admissions": 12}),
        await api.post(f"/v1/organizations/{tree.commune}/restructurings", {
            "action": "rename", "effective_on": "2023-01-01", "new_name": "Xã mới", "decision": decision("2023-01-01"),
        }),
    ]
    assert all(response.status_code < 300 for response in recorded), [r.text for r in recorded]
    subscriber = await api.token("subscriber", tree.province)
    for token in (None, subscriber):
        events = (await api.get("/v1/events?limit=1000", **({"token": token} if token else {}))).json()["events"]
        assert len(events) > 10
        for event in events:
            errors = [error.message for error in validator.iter_errors(event)]
            assert not errors, (event["type"], errors)
    broken = dict(events[0], source="KT.TP", id="x")
    assert not validator.is_valid(broken)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a loopback port."""
    with Receiver() as started:
        yield started


async def test_the_webhook_message_schema_accepts_a_real_delivery(api: Api, tree: Tree, receiver: Receiver) -> None:
    """The headers and body of a delivery fit the document's webhook message."""
    document = (await api.get("/asyncapi.json", token=None)).json()
    endpoint = receiver.endpoint("/hook")
    response = await api.post("/v1/webhooks", {"url": receiver.url + "/hook"})
    endpoint.secret = response.json()["secret"]
    await api.admit(tree.cell_a)
    deadline = time.monotonic() + 15
    while not endpoint.received:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    [delivery] = endpoint.received
    message = document["components"]["messages"]["webhookDelivery"]
    assert delivery.headers["content-type"].split(";")[0] == message["contentType"]
    assert schema_of(document, "WebhookHeaders").is_valid(delivery.headers)
    assert schema_of(document, "CloudEvent").is_valid(delivery.event)
    assert delivery.signed
