"""Endpoints under /_fake/ that let a person drive the fake with curl: make it send an incoming
message, a click or a receipt to the registered webhooks, and inspect what it received."""

from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.fake_mobivate.api import json_object
from app.fake_mobivate.hlr import HLR_STATES, HlrState
from app.fake_mobivate.payloads import DEFAULT_CLICK_URL, message_log
from app.fake_mobivate.records import FakeMessage, NoWebhook
from app.fake_mobivate.rules import (
    Rejection,
    check_mobile,
    optional_bool,
    optional_str,
    required_str,
)

if TYPE_CHECKING:
    from app.fake_mobivate.core import FakeMobivate

_HIDDEN_HEADERS = frozenset({"authorization"})
_HIDDEN_QUERY = frozenset({"api_key", "password"})


class FakeControl:
    def __init__(self, fake: "FakeMobivate") -> None:
        self.fake = fake

    def routes(self) -> list[Route]:
        return [
            Route("/_fake/requests", self.requests, methods=["GET"]),
            Route("/_fake/messages", self.messages, methods=["GET"]),
            Route("/_fake/incoming", self.incoming, methods=["POST"]),
            Route("/_fake/click", self.click, methods=["POST"]),
            Route("/_fake/receipt", self.receipt, methods=["POST"]),
            Route("/_fake/hlr", self.hlr, methods=["POST"]),
        ]

    async def requests(self, request: Request) -> JSONResponse:
        return JSONResponse(
            [
                {
                    "method": recorded.method,
                    "path": recorded.path,
                    "query": _redact(recorded.query, _HIDDEN_QUERY),
                    "headers": _redact(recorded.headers, _HIDDEN_HEADERS),
                    "json": recorded.json,
                }
                for recorded in self.fake.requests
            ]
        )

    async def messages(self, request: Request) -> JSONResponse:
        return JSONResponse([message_log(message) for message in self.fake.messages()])

    async def incoming(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        originator = required_str(body, "originator")
        text = required_str(body, "body")
        recipient = optional_str(body, "recipient") or "12345"
        in_reply_to = optional_str(body, "inReplyTo")
        return await self._forward(
            self.fake.send_incoming(originator, text, recipient, self._lookup(in_reply_to))
        )

    async def click(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        message = self._require(required_str(body, "messageId"))
        url = optional_str(body, "url") or DEFAULT_CLICK_URL
        return await self._forward(self.fake.send_click(message, url))

    async def receipt(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        message = self._require(required_str(body, "messageId"))
        status = optional_str(body, "status") or "DELIVERED"
        return await self._forward(self.fake.send_receipt(message, status))

    async def hlr(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        number = check_mobile(required_str(body, "number").lstrip("+"))
        state = optional_str(body, "state") or "live"
        if state not in HLR_STATES:
            raise Rejection(400, f"state: one of {', '.join(HLR_STATES)}")
        ported = optional_bool(body, "ported") or False
        self.fake.set_hlr(number, cast(HlrState, state), ported=ported)
        return JSONResponse({"number": number, "state": state, "ported": ported})

    def _lookup(self, message_id: str | None) -> FakeMessage | None:
        return None if message_id is None else self._require(message_id)

    def _require(self, message_id: str) -> FakeMessage:
        try:
            return self.fake.find_message(message_id)
        except KeyError:
            raise Rejection(404, f"No message with id {message_id}") from None

    async def _forward(self, sending: Awaitable[httpx.Response]) -> JSONResponse:
        try:
            response = await sending
        except NoWebhook as exc:
            raise Rejection(409, str(exc)) from None
        except ValueError as exc:
            raise Rejection(400, str(exc)) from None
        except httpx.HTTPError as exc:
            raise Rejection(502, f"Webhook unreachable: {type(exc).__name__}") from None
        return JSONResponse(
            {"webhookStatus": response.status_code, "webhookUrl": str(response.url)}
        )


def _redact(values: dict[str, str], hidden: frozenset[str]) -> dict[str, str]:
    return {name: "********" if name in hidden else value for name, value in values.items()}
