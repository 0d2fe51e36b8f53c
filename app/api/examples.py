"""Examples of the API's bodies, by schema name, for the OpenAPI description (`/docs`,
`/redoc`, generated clients). Each is a real answer of the service, taken against the fake
Mobivate, with a UK mobile number and Mobivate-style ids. `app.api.openapi` fills them in where a
model gives none of its own; a test checks that every request and response body has one.
"""

from typing import Any

MOBIVATE_ID = "9A85B95E0A000A9D2FBD46710388AD54"
MOBIVATE_BATCH_ID = "9A85B9110A000A9D2FBD4671D691C328"

MESSAGE: dict[str, Any] = {
    "id": 1,
    "batch_id": None,
    "to": "+447700900123",
    "originator": "Shop",
    "text": "Your order #1042 has shipped",
    "reference": "order-1042",
    "route_id": "mglobal",
    "encoding": "GSM-7",
    "parts": 1,
    "shorten_urls": False,
    "schedule_at": None,
    "mobivate_id": "9A85B95E0A000A9D2FBD46710388AD54",
    "mobivate_batch_id": None,
    "submission": "submitted",
    "status": "submitted",
    "status_code": None,
    "status_at": "2026-11-22T09:15:11.906000Z",
    "final": False,
    "delivered_at": None,
    "error": None,
    "created_at": "2026-11-22T09:15:11.895000Z",
    "submitted_at": "2026-11-22T09:15:11.906000Z",
}

# A reply waiting in the opt-out review queue.
REVIEW: dict[str, Any] = {
    "id": 1,
    "msisdn": "447700900123",
    "body": "stop the deals",
    "keyword": "STOP",
    "occurred_at": "2026-11-22T09:16:40Z",
    "state": "pending",
    "reason": None,
    "incoming_message_id": 3,
    "created_at": "2026-11-22T09:16:40.214000Z",
    "decided_at": None,
}

# The same message once Mobivate reported it delivered, with how it got there.
DELIVERED: dict[str, Any] = {
    **MESSAGE,
    **{
        "status": "DELIVERED",
        "status_code": 1,
        "status_at": "2026-11-22T09:15:11.941000Z",
        "final": True,
        "delivered_at": "2026-11-22T09:15:11.941000Z",
    },
}
TIMELINE: list[dict[str, Any]] = [
    {"at": "2026-11-22T09:15:11.895000Z", "event": "created", "details": {}},
    {
        "at": "2026-11-22T09:15:11.906000Z",
        "event": "submission",
        "details": {"outcome": "submitted", "mobivate_id": "9A85B95E0A000A9D2FBD46710388AD54"},
    },
    {
        "at": "2026-11-22T09:15:11.941000Z",
        "event": "receipt",
        "details": {
            "receipt_id": 1,
            "status": "ACCEPTED",
            "status_code": 2,
            "source": "webhook",
            "parts": 1,
            "received_at": "2026-11-22T09:15:11.942000Z",
            "effect": "changed",
            "previous_status": "submitted",
        },
    },
    {
        "at": "2026-11-22T09:15:11.941000Z",
        "event": "receipt",
        "details": {
            "receipt_id": 2,
            "status": "DELIVERED",
            "status_code": 1,
            "source": "webhook",
            "parts": 1,
            "received_at": "2026-11-22T09:15:11.968000Z",
            "effect": "changed",
            "previous_status": "ACCEPTED",
        },
    },
    {
        "at": "2026-11-22T09:15:11.941000Z",
        "event": "reply",
        "details": {"incoming_id": 1, "from": "+447700900123", "text": "Thanks!"},
    },
    {
        "at": "2026-11-22T09:15:11.984000Z",
        "event": "click",
        "details": {"click_id": 1, "url": "https://shop.example.co.uk/track/1042", "os": "iOS"},
    },
]

BATCH: dict[str, Any] = {
    "id": 1,
    "name": "November sale",
    "state": "submitted",
    "route_id": "mglobal",
    "schedule_at": None,
    "spread_hours": None,
    "shorten_urls": False,
    "exclude_duplicates": True,
    "verify_numbers": False,
    "requested": 2,
    "accepted": 2,
    "progress": {"checked": 2, "total": 2, "submitted": 2, "not_submitted": 0},
    "skipped": [],
    "mobivate_batch_ids": ["9A85B9110A000A9D2FBD4671D691C328"],
    "counts": {"submitted": 2},
    "final": 0,
    "error": None,
    "created_at": "2026-11-22T09:15:12.093000Z",
}

SENDS_AFTER_OPTOUT: dict[str, Any] = {
    "since": "2026-10-23T09:15:12Z",
    "count": 0,
    "items": [],
}

BODIES: dict[str, Any] = {
    "SendMessageRequest": {
        "to": "+447700900123",
        "text": "Your order #1042 has shipped",
        "originator": "Shop",
        "reference": "order-1042",
    },
    "SendBatchRequest": {
        "name": "November sale",
        "originator": "Shop",
        "messages": [
            {"to": "+447700900124", "text": "20% off today", "reference": "sale-0001"},
            {"to": "+447700900125", "text": "20% off today", "reference": "sale-0002"},
        ],
    },
    "OptoutRequest": {"msisdn": "+44 7700 900126", "source": "api", "reason": "asked by phone"},
    "MessageOut": MESSAGE,
    "MessageWithTimelineOut": {**DELIVERED, "timeline": TIMELINE},
    "BatchQueuedOut": {
        **BATCH,
        "state": "queued",
        "accepted": 0,
        "progress": {"checked": 0, "total": None, "submitted": 0, "not_submitted": 0},
        "mobivate_batch_ids": [],
        "counts": {},
    },
    "BatchDetailOut": {
        **BATCH,
        "stats": {
            "sent": 2,
            "delivered": 0,
            "failed": 0,
            "pending": 2,
            "delivery_rate": 0.0,
            "median_seconds_to_delivery": None,
            "clicks": 0,
            "unique_clickers": 0,
            "click_through_rate": None,
            "incoming": 0,
            "opt_outs": 0,
            "opt_ins": 0,
        },
    },
    "OptoutDetailOut": {
        "msisdn": "+447700900126",
        "unresolved": False,
        "opted_out": True,
        "state": {
            "msisdn": "+447700900126",
            "unresolved": False,
            "opted_out": True,
            "changed_at": "2026-11-22T09:15:12.199000Z",
            "source": "api",
            "keyword": None,
            "reason": "asked by phone",
            "updated_at": "2026-11-22T09:15:12.199000Z",
        },
        "history": [
            {
                "id": 1,
                "written_as": "+44 7700 900126",
                "action": "opt_out",
                "source": "api",
                "keyword": None,
                "reason": "asked by phone",
                "incoming_message_id": None,
                "event_at": "2026-11-22T09:15:12.199000Z",
                "recorded_at": "2026-11-22T09:15:12.199000Z",
            }
        ],
        "pushes": [
            {
                "id": 1,
                "operation": "optout_add",
                "msisdn": "+447700900126",
                "event_id": 1,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": "2026-11-22T09:15:12.199000Z",
                "last_error": None,
                "mobivate_status": None,
                "mobivate_message": None,
                "created_at": "2026-11-22T09:15:12.199000Z",
                "delivered_at": None,
            }
        ],
    },
    "RegistrationStatus": {
        "enabled": False,
        "reason": "REGISTER_WEBHOOKS is false",
        "registrations": [
            {
                "kind": "receipt",
                "url": None,
                "current": False,
                "state": "disabled",
                "attempts": 0,
                "last_attempt_at": None,
                "last_success_at": None,
                "next_attempt_at": None,
                "last_status_code": None,
                "mobivate_message": None,
                "updated_at": None,
            },
            {
                "kind": "incoming",
                "url": None,
                "current": False,
                "state": "disabled",
                "attempts": 0,
                "last_attempt_at": None,
                "last_success_at": None,
                "next_attempt_at": None,
                "last_status_code": None,
                "mobivate_message": None,
                "updated_at": None,
            },
            {
                "kind": "click",
                "url": None,
                "current": False,
                "state": "disabled",
                "attempts": 0,
                "last_attempt_at": None,
                "last_success_at": None,
                "next_attempt_at": None,
                "last_status_code": None,
                "mobivate_message": None,
                "updated_at": None,
            },
        ],
    },
    "OptoutStateOut": {
        "msisdn": "+447700900126",
        "unresolved": False,
        "opted_out": True,
        "changed_at": "2026-11-22T09:15:12.199000Z",
        "source": "api",
        "keyword": None,
        "reason": "asked by phone",
        "updated_at": "2026-11-22T09:15:12.199000Z",
    },
    "SendsAfterOptoutOut": SENDS_AFTER_OPTOUT,
    "PushOut": {
        "id": 1,
        "operation": "optout_add",
        "msisdn": "+447700900126",
        "event_id": 1,
        "state": "delivered",
        "attempts": 1,
        "next_attempt_at": "2026-11-22T09:15:12.199000Z",
        "last_error": None,
        "mobivate_status": 200,
        "mobivate_message": "API",
        "created_at": "2026-11-22T09:15:12.199000Z",
        "delivered_at": "2026-11-22T09:15:12.237000Z",
    },
    "ReviewOut": REVIEW,
    "ReviewDecisionRequest": {"decision": "opt_out", "reason": "reads as stop"},
    "ReviewDecisionOut": {
        "review": {
            **REVIEW,
            "state": "opted_out",
            "reason": "reads as stop",
            "decided_at": "2026-11-22T09:20:03.512000Z",
        },
        "opted_out": True,
    },
}

# Bodies without a named schema: (operationId, status code) -> example.
ANSWERS: dict[tuple[str, str], Any] = {
    ("healthz", "200"): {"status": "ok"},
    ("readyz", "200"): {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok"},
        "spool": {
            "entries": 0,
            "bytes": 0,
            "oldest_age_seconds": 0.0,
            "diverting": False,
            "full": False,
            "quarantined": 0,
        },
        "registrations": {
            "enabled": False,
            "reason": "REGISTER_WEBHOOKS is false",
            "receipt": "disabled",
            "incoming": "disabled",
            "click": "disabled",
        },
    },
}
