"""Runs in front of every Mobivate endpoint: records the request, answers injected failures,
then checks the API key (the contacts proxy checks its username and password itself). Control
endpoints under /_fake/ pass straight through."""

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.fake_mobivate.contacts import CONTACTS_PREFIX
from app.fake_mobivate.records import RecordedRequest
from app.fake_mobivate.rules import error_response

if TYPE_CHECKING:
    from app.fake_mobivate.core import FakeMobivate

CONTROL_PREFIX = "/_fake/"


class Gate:
    def __init__(self, app: ASGIApp, fake: "FakeMobivate") -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request = Request(scope)
        self.fake.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers=dict(request.headers),
                json=_json_or_none(body),
                body=body,
            )
        )
        failure = self.fake.take_failure()
        if failure is not None:
            await error_response(failure)(scope, receive, send)
        elif not request.url.path.startswith(CONTACTS_PREFIX) and not self.fake.is_authorised(
            request
        ):
            await error_response(401, "Unauthorized")(scope, receive, send)
        else:
            await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _json_or_none(body: bytes) -> object:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
