"""The OpenAPI description: what FastAPI derives, plus the webhook endpoints (plain Starlette
routes), the answers every operation may give, and an example of every body
(`app.api.examples`)."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.examples import ANSWERS, BODIES

_EXAMPLES: dict[str, dict[str, Any]] = {
    "receipt": {
        "deliveryMessageId": "9A85B95E0A000A9D2FBD46710388AD54",
        "batchId": "9A85B9110A000A9D2FBD4671D691C328",
        "clientReference": None,
        "created": "2023-07-28T03:23:22.000+00:00",
        "status": "ACCEPTED",
        "statusCode": 2,
        "parts": 1,
        "hlr": None,
    },
    "incoming": {
        "id": "1C9A658F0A931B317B6A53BB42EC3571",
        "originator": "4400000000",
        "recipient": "12345",
        "body": "Incoming Message",
        "created": "2023-09-01T00:30:36+0000",
        "inReplyTo": "961AEAEB0A000A9D2FBD4671D07705FE",
        "logicalMessageId": "6EE262430A931B3127AFD4F044FC0622",
        "ownerUserId": "94B8CC070A000A9D2FBD467124131CA6",
    },
    "click": {
        "mobile": "4400001234",
        "messageId": "9AEC3BB90A000A9D2FBD467178FF6827",
        "batchId": "9AEC3B590A000A9D2FBD4671C4D151BF",
        "clientRef": "ref-001",
        "browser": "Safari",
        "country": "United Kingdom",
        "ipAddress": "1.1.1.1",
        "iso2l": "UK",
        "os": "Mac OS X",
        "url": "http://vimeo.com/751393851?autoplay=1",
    },
}

_XML_EXAMPLES = {
    "receipt": "<DeliveryReceipt><deliveryMessageId>9A85B95E0A000A9D2FBD46710388AD54"
    "</deliveryMessageId><status>DELIVERED</status><statusCode>1</statusCode>"
    "</DeliveryReceipt>",
    "incoming": "<IncomingMessage><id>1C9A658F0A931B317B6A53BB42EC3571</id>"
    "<originator>447700900123</originator><recipient>12345</recipient><body>STOP</body>"
    "</IncomingMessage>",
}

_SUMMARIES = {
    "receipt": "Delivery receipt (DLR) from Mobivate",
    "incoming": "Incoming message (MO) from Mobivate",
    "click": "Short-URL click from Mobivate",
}

_ACK_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {
            "type": "string",
            "enum": ["stored", "duplicate", "spooled"],
            "description": "`spooled`: the database is down; kept on disk, stored when it returns",
        },
        "stored": {"type": "integer", "description": "array bodies only"},
        "duplicates": {"type": "integer", "description": "array bodies only"},
        "rejected": {
            "type": "array",
            "description": "array bodies only: items that could not be parsed (the first 100), "
            "each with its position from 0 and the reason; the other items are stored",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "detail": {"type": "string"}},
                "required": ["index", "detail"],
            },
        },
        "rejected_count": {
            "type": "integer",
            "description": "array bodies only: how many items could not be parsed",
        },
    },
    "required": ["status"],
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"status": {"type": "string"}, "detail": {"type": "string"}},
    "required": ["detail"],
}


def _error(description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": _ERROR_SCHEMA,
                "example": {"status": "unparsed", "detail": example},
            }
        },
    }


def _operation(kind: str) -> dict[str, Any]:
    example = _EXAMPLES[kind]
    content: dict[str, Any] = {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "object", "additionalProperties": True},
                    {"type": "array", "items": {"type": "object"}, "minItems": 1},
                ]
            },
            "example": example,
        }
    }
    if kind != "click":
        content["application/x-www-form-urlencoded"] = {
            "schema": {
                "type": "object",
                "properties": {"xml": {"type": "string", "description": "legacy XML push"}},
            },
            "example": {"xml": _XML_EXAMPLES[kind]},
        }
    return {
        "tags": ["webhooks"],
        "summary": _SUMMARIES[kind],
        "description": "Stored durably, then acknowledged. The raw body is kept even when it "
        "cannot be parsed. A wrong secret gets 404 and nothing is stored.",
        "operationId": f"receive_{kind}_webhook",
        "parameters": [
            {
                "name": "secret",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "WEBHOOK_SECRET (see `mobivate-hooks webhook-urls`)",
            }
        ],
        "requestBody": {"required": True, "content": content},
        "responses": {
            "200": {
                "description": "Committed (or a duplicate of a committed event)",
                "content": {
                    "application/json": {"schema": _ACK_SCHEMA, "example": {"status": "stored"}}
                },
            },
            "400": _error("Malformed JSON or XML", "invalid JSON: unexpected end of data"),
            "404": {"description": "Wrong or missing secret; nothing stored"},
            "429": {
                "description": "Too many wrong secrets from this address "
                "(WEBHOOK_AUTH_FAILURES_PER_MINUTE); see Retry-After"
            },
            "413": _error("Body over MAX_BODY_BYTES", "body of 300000 bytes is over the limit"),
            "415": _error("Unsupported content type", "unsupported content type 'text/csv'"),
            "422": _error("Wrong shape or field types", "'statusCode' must be an integer"),
            "503": {
                "description": "Database unavailable and the outage spool full; nothing "
                "acknowledged, retry"
            },
        },
    }


_DETAIL_ONLY = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_COMMON_ANSWERS: dict[str, tuple[str, str]] = {
    "400": ("The body is not valid JSON", "There was an error parsing the body"),
    "401": ("Missing or wrong bearer token", "invalid bearer token"),
    "404": ("Nothing has the identifier in the path", "no message with id 42"),
}


def _answer(code: str) -> dict[str, Any]:
    description, example = _COMMON_ANSWERS[code]
    return {
        "description": description,
        "content": {"application/json": {"schema": _DETAIL_ONLY, "example": {"detail": example}}},
    }


def _document_common_answers(schema: dict[str, Any]) -> None:
    """Answers every operation may give but FastAPI does not describe: a 422 whose `detail` is
    one sentence (the service's own checks) rather than a list, 400 for a body that is not JSON,
    401 where a token is required, 404 for an unknown identifier in the path."""
    validation = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if validation is not None:
        validation["examples"] = [
            {"detail": "msisdn 'abc' is not a phone number: use digits with an optional '+'"},
            INVALID_EXAMPLE,
        ]
        listed = validation["properties"]["detail"]
        validation["properties"]["detail"] = {
            "anyOf": [listed, {"type": "string"}],
            "title": listed.get("title", "Detail"),
        }
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", _answer("400"))
            if operation.get("security"):
                responses.setdefault("401", _answer("401"))
            if any(p.get("in") == "path" for p in operation.get("parameters", ())):
                responses.setdefault("404", _answer("404"))


INVALID_EXAMPLE = {
    "detail": [
        {
            "type": "missing",
            "loc": ["body", "to"],
            "msg": "Field required",
            "input": {"text": "Your order #1042 has shipped"},
        }
    ]
}
_CURSOR_EXAMPLE = "WyIyMDI2LTExLTIyVDA5OjE1OjExLjg5NTAwMFoiLDEwNDJd"


def _add_examples(schema: dict[str, Any]) -> None:
    """An example for every body: from `app.api.examples` where the model has none, a page of
    one item for every list, and the bodies without a named schema."""
    components = schema.get("components", {}).get("schemas", {})
    for name, example in BODIES.items():
        if name in components:
            components[name].setdefault("examples", [example])
    for name, component in components.items():
        if not name.startswith("Page_") or "examples" in component:
            continue
        item = components.get(component["properties"]["items"]["items"]["$ref"].split("/")[-1])
        if item and item.get("examples"):
            component["examples"] = [
                {"items": [item["examples"][0]], "next_cursor": _CURSOR_EXAMPLE}
            ]
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for code, response in operation.get("responses", {}).items():
                example = ANSWERS.get((operation.get("operationId"), code))
                media = response.get("content", {}).get("application/json")
                if example is not None and media is not None:
                    media.setdefault("example", example)


def install_openapi(app: FastAPI) -> None:
    """Generate the schema once, adding the webhook endpoints to what FastAPI describes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                servers=app.servers,
            )
            paths = schema.setdefault("paths", {})
            _document_common_answers(schema)
            _add_examples(schema)
            for kind in _EXAMPLES:
                paths[f"/webhooks/{{secret}}/{kind}"] = {"post": _operation(kind)}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
