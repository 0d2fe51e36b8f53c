"""OpenAPI fragments shared by the REST API routes: error bodies and the CSV alternative."""

from typing import Any

_DETAIL_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}

UNAUTHORIZED: dict[str, Any] = {
    "description": "Missing or wrong bearer token (or no API_TOKENS configured); the response "
    "carries `WWW-Authenticate: Bearer`",
    "content": {
        "application/json": {
            "schema": _DETAIL_SCHEMA,
            "example": {"detail": "invalid bearer token"},
        }
    },
}

FORBIDDEN: dict[str, Any] = {
    "description": "The token lacks the scope this operation needs (see API_TOKENS); `detail` "
    "names it",
    "content": {
        "application/json": {
            "schema": _DETAIL_SCHEMA,
            "example": {
                "detail": "this token lacks the 'send' scope that POST /api/v1/messages needs"
            },
        }
    },
}

INVALID: dict[str, Any] = {
    "description": "A parameter is invalid; `loc` names it",
    "content": {
        "application/json": {
            "example": {
                "detail": [
                    {
                        "type": "value_error",
                        "loc": ["query", "msisdn"],
                        "msg": "Value error, not a phone number: 'abc'",
                        "input": "abc",
                    }
                ]
            }
        }
    },
}

# Every /api/v1 router is included with these: the bearer token is checked before anything else.
AUTH: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 403: FORBIDDEN}
ERRORS: dict[int | str, dict[str, Any]] = {**AUTH, 422: INVALID}


def with_csv(description: str) -> dict[int | str, dict[str, Any]]:
    """Responses of a list: the JSON page, or CSV with `Accept: text/csv` or `format=csv`."""
    return {
        200: {
            "description": description,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "id,occurred_at,status\r\n1042,2026-11-22T09:15:02Z,DELIVERED\r\n",
                }
            },
        },
        **ERRORS,
    }
