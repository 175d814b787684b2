"""The AsyncAPI 3.0 document of the event feed: the server-sent event stream and the webhooks.

Served at `/asyncapi.json`, beside `/openapi.json`, which describes the request/response side.
Both channels carry the same message payload, a CloudEvent (`service.feed.cloud_event`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from domain.values import CODE_PATTERN
from service.feed import CLOUD_EVENT_TYPES, DATA_CONTENT_TYPE, SOURCE_PREFIX, SPEC_VERSION
from service.webhooks import CONTENT_TYPE as WEBHOOK_CONTENT_TYPE

ASYNCAPI_VERSION = "3.0.0"
HTTP_BINDING_VERSION = "0.3.0"

STREAM_DESCRIPTION = """\
`GET /v1/events/stream` with `Authorization: Bearer <token>` (an administrator or a subscriber)
answers `text/event-stream`. Each message is `id: <position>` then `data: <the CloudEvent as one
line of JSON>` and a blank line; no `event:` field is sent, so `EventSource.onmessage` receives
every event. Lines starting with `:` are heartbeats, sent after `DANGVIEN_STREAM_HEARTBEAT_SECONDS`
(15 s) of silence. The stream ends after `DANGVIEN_STREAM_MAX_SECONDS`; reconnect with
`Last-Event-ID: <the last id received>` (browsers do it themselves) and the stream resumes right
after it: nothing is missed, nothing is repeated. `after=N` starts a new stream after position N,
`types=` keeps only some CloudEvents types. A subscriber receives the events recorded in its
subtree, without personal data."""

WEBHOOK_DESCRIPTION = """\
Registered with `POST /v1/webhooks {"url", "types"?, "scope"?, "description"?, "personal_data"?,
"after"?}`, which answers the signing secret (`whsec_<base64>`) once. Each event is POSTed to the
URL as a CloudEvent (structured mode, `application/cloudevents+json`), following the Standard
Webhooks specification: `webhook-id` is the same on every retry of an event, `webhook-timestamp`
is the attempt's Unix time, and `webhook-signature` is `v1,<base64 HMAC-SHA256 of
"{webhook-id}.{webhook-timestamp}.{body}">` keyed with the base64-decoded secret (without
`whsec_`). Any 2xx answer is a delivery; anything else, or no answer within 10 s, is retried with
exponential backoff and jitter, for as long as it takes. Events reach one webhook one at a time,
in order; a failing endpoint holds up only itself. Delivery is at least once: after a restart an
event may arrive again, with the same `webhook-id` (deduplicate on it)."""

TYPE_DESCRIPTION = """\
What happened, as `vn.dangvien.<subject>.<what happened>`. `organization.*` events change the
tree (founded, child_attached, child_detached, renamed, reparented, merged, split, absorbed,
dissolved, plan_set); `member.*`, `transfer.*` and `guest.*` events change a cell's roster."""

SCOPE_DESCRIPTION = """\
An event is recorded on one organization (`source`) and reaches the subscribers of every subtree
that held that organization when the event was recorded. A later restructuring does not change
who receives events already recorded."""


def cloud_event_schema() -> dict[str, Any]:
    """The JSON schema of one CloudEvent of the feed."""
    return {
        "type": "object",
        "description": SCOPE_DESCRIPTION,
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"],
        "additionalProperties": False,
        "properties": {
            "specversion": {"type": "string", "const": SPEC_VERSION},
            "id": {
                "type": "string",
                "pattern": "^[1-9][0-9]*$",
                "description": "The event's global position in the ledger's log; strictly increasing.",
            },
            "source": {
                "type": "string",
                "pattern": "^" + SOURCE_PREFIX + CODE_PATTERN.pattern.removeprefix("^"),
                "description": "The organization the event was recorded on: /organizations/<code>.",
                "examples": [SOURCE_PREFIX + "KT.TP"],
            },
            "type": {"type": "string", "enum": sorted(CLOUD_EVENT_TYPES.values()), "description": TYPE_DESCRIPTION},
            "subject": {
                "type": "string",
                "format": "uuid",
                "description": "The member the event is about, when it is about exactly one.",
            },
            "time": {"type": "string", "format": "date-time", "description": "When it was recorded (UTC)."},
            "datacontenttype": {"type": "string", "const": DATA_CONTENT_TYPE},
            "data": {"$ref": "#/components/schemas/EventData"},
        },
    }


def event_data_schema() -> dict[str, Any]:
    """The JSON schema of a CloudEvent's `data`: the event's own fields, with its date and decision."""
    return {
        "type": "object",
        "description": "The event's fields in snake_case (dates YYYY-MM-DD, ids as text). National ID, "
        "birth date, ethnicity and religion are left out unless the receiver may see personal data.",
        "required": ["effective_on", "decision"],
        "additionalProperties": True,
        "properties": {
            "effective_on": {"type": "string", "format": "date", "description": "The day it takes effect."},
            "decision": {
                "oneOf": [{"$ref": "#/components/schemas/Decision"}, {"type": "null"}],
                "description": "The decision it was taken by, when there is one.",
            },
        },
    }


def decision_schema() -> dict[str, Any]:
    """The JSON schema of a decision (quyết định)."""
    return {
        "type": "object",
        "required": ["number", "issued_on"],
        "properties": {
            "number": {"type": "string", "examples": ["123-QĐ/HU"]},
            "issued_on": {"type": "string", "format": "date"},
            "issued_by": {"type": ["string", "null"]},
        },
    }


def webhook_headers_schema() -> dict[str, Any]:
    """The JSON schema of the Standard Webhooks headers of a delivery."""
    return {
        "type": "object",
        "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
        "properties": {
            "webhook-id": {
                "type": "string",
                "pattern": "^msg_[0-9a-f]+_[1-9][0-9]*$",
                "description": "msg_<webhook>_<position>: the same on every attempt of this event.",
            },
            "webhook-timestamp": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "Unix seconds of this attempt; reject deliveries too far from your clock.",
            },
            "webhook-signature": {
                "type": "string",
                "pattern": "^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$",
                "description": "v1,<base64 HMAC-SHA256 of {webhook-id}.{webhook-timestamp}.{body}>.",
            },
        },
    }


def asyncapi_document(base_url: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document, with the server where this request arrived."""
    parts = urlsplit(base_url)
    server: dict[str, Any] = {
        "host": parts.netloc,
        "protocol": parts.scheme or "http",
        "description": "The dangvien HTTP API.",
        "security": [{"$ref": "#/components/securitySchemes/bearer"}],
    }
    if parts.path.strip("/"):
        server["pathname"] = "/" + parts.path.strip("/")
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "dangvien event feed",
            "version": "1.0",
            "description": "What happens in the ledger of party membership, as CloudEvents 1.0: streamed "
            "as server-sent events, and delivered to webhooks. The same events can be paged with "
            "`GET /v1/events?after=N` (see /openapi.json).",
        },
        "defaultContentType": DATA_CONTENT_TYPE,
        "servers": {"api": server},
        "channels": {
            "eventStream": {
                "address": "/v1/events/stream",
                "title": "Event stream",
                "description": STREAM_DESCRIPTION,
                "servers": [{"$ref": "#/servers/api"}],
                "messages": {"cloudEvent": {"$ref": "#/components/messages/streamedEvent"}},
            },
            "webhook": {
                "address": None,
                "title": "Webhook endpoint",
                "description": "The URL a webhook was registered with (not served by dangvien).\n\n"
                + WEBHOOK_DESCRIPTION,
                "messages": {"cloudEvent": {"$ref": "#/components/messages/webhookDelivery"}},
            },
        },
        "operations": {
            "streamEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/eventStream"},
                "title": "Stream events",
                "summary": "Each event of the caller's subtree, in order, to a connected client.",
                "security": [{"$ref": "#/components/securitySchemes/bearer"}],
                "bindings": {"http": {"method": "GET", "bindingVersion": HTTP_BINDING_VERSION}},
                "messages": [{"$ref": "#/channels/eventStream/messages/cloudEvent"}],
            },
            "deliverWebhook": {
                "action": "send",
                "channel": {"$ref": "#/channels/webhook"},
                "title": "Deliver to a webhook",
                "summary": "Each event of the webhook's types and subtree, in order, signed.",
                "bindings": {"http": {"method": "POST", "bindingVersion": HTTP_BINDING_VERSION}},
                "messages": [{"$ref": "#/channels/webhook/messages/cloudEvent"}],
            },
        },
        "components": {
            "schemas": {
                "CloudEvent": cloud_event_schema(),
                "EventData": event_data_schema(),
                "Decision": decision_schema(),
                "WebhookHeaders": webhook_headers_schema(),
            },
            "messages": {
                "streamedEvent": {
                    "name": "CloudEvent",
                    "title": "An event, as one server-sent event",
                    "summary": "id: <position>, data: <CloudEvent>",
                    "contentType": DATA_CONTENT_TYPE,
                    "payload": {"$ref": "#/components/schemas/CloudEvent"},
                },
                "webhookDelivery": {
                    "name": "CloudEvent",
                    "title": "An event, as one signed webhook request",
                    "summary": "POST <url> with the CloudEvent and the Standard Webhooks headers",
                    "contentType": WEBHOOK_CONTENT_TYPE.split(";")[0],
                    "headers": {"$ref": "#/components/schemas/WebhookHeaders"},
                    "payload": {"$ref": "#/components/schemas/CloudEvent"},
                },
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from POST /v1/tokens with the subscriber (or admin) role.",
                },
            },
        },
    }
