"""FakeMobivate: an in-memory Mobivate for tests and local runs.

Tests reach it through `transport()`; its callbacks (receipts, incoming messages, clicks) go
through the injected `callback_client`, so neither direction touches the network.
"""

import asyncio
import hmac
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from app.fake_mobivate.api import MobivateApi
from app.fake_mobivate.contacts import ContactsProxy
from app.fake_mobivate.control import FakeControl
from app.fake_mobivate.gate import Gate
from app.fake_mobivate.hlr import HlrEntry, HlrState, hlr_result
from app.fake_mobivate.payloads import (
    DEFAULT_CLICK_URL,
    DEFAULT_DEVICE,
    click_payload,
    incoming_payload,
    receipt_payload,
)
from app.fake_mobivate.records import (
    FakeMessage,
    NoWebhook,
    OptoutEntry,
    RecordedRequest,
    new_hex_id,
    utc_now,
)
from app.fake_mobivate.rules import Rejection, error_response
from app.mobivate.vocabulary import STATUS_CODES, normalise_id

logger = logging.getLogger(__name__)


class FakeMobivate:
    def __init__(
        self,
        *,
        api_key: str = "test-key",
        callback_client: httpx.AsyncClient | None = None,
        auto_receipts: bool = False,
        receipt_delay: float = 0.05,
        contacts_username: str = "fake-user",
        contacts_password: str = "fake-password",  # noqa: S107 (the fake's own, for tests)
    ) -> None:
        """With `auto_receipts`, every accepted message gets an ACCEPTED then a DELIVERED receipt
        `receipt_delay` seconds after the send. Without `callback_client` the fake opens its own
        client on first callback; `aclose()` closes it."""
        self.api_key = api_key
        self.auto_receipts = auto_receipts
        self.receipt_delay = receipt_delay
        self.down = False
        self.requests: list[RecordedRequest] = []
        self.webhooks: dict[str, str] = {}
        self.optouts: dict[str, OptoutEntry] = {}
        # How a send to a number on `optouts` is refused (documented: 403 "opted out").
        self.optout_refusal: tuple[int, str] = (403, "Recipient has opted out")
        # Numbers whose messages are accepted, then fail with FAILED_RECIPIENT_BLACKLISTED.
        self.blacklisted: set[str] = set()
        # The contacts proxy signs in with these; `contacts` holds its numbers and applications.
        self.contacts_username = contacts_username
        self.contacts_password = contacts_password
        self.contacts: dict[str, set[str]] = {}
        self.sent: list[FakeMessage] = []
        self.received: list[FakeMessage] = []
        self.owner_user_id = new_hex_id()
        # What `GET /hlr` says of a number (live unless set), and the numbers of each lookup.
        self.hlr: dict[str, HlrEntry] = {}
        self.hlr_lookups: list[list[str]] = []
        self._failures: deque[int] = deque()
        self._by_id: dict[str, FakeMessage] = {}
        self._optout_ids = itertools.count(1354505990)
        self._callback_client = callback_client
        self._owns_callback_client = callback_client is None
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                *MobivateApi(self).routes(),
                *ContactsProxy(self).routes(),
                *FakeControl(self).routes(),
            ],
            middleware=[Middleware(Gate, fake=self)],
            exception_handlers={Rejection: _error_body, HTTPException: _error_body},
            lifespan=self._lifespan,
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        return _FakeTransport(self)

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next `count` API calls answer `status` with a Mobivate-style error body."""
        self._failures.extend([status] * count)

    def take_failure(self) -> int | None:
        return self._failures.popleft() if self._failures else None

    def is_authorised(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._is_key(token.strip()):
            return True
        return self._is_key(request.query_params.get("api_key", ""))

    def _is_key(self, candidate: str) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.api_key.encode())

    def add_optout(
        self, mobile: str, note: str = "MO", created: datetime | None = None
    ) -> OptoutEntry:
        entry = OptoutEntry(next(self._optout_ids), mobile, note, created or utc_now())
        self.optouts[mobile] = entry
        return entry

    def set_hlr(self, number: str, state: HlrState = "live", *, ported: bool = False) -> None:
        """What HLR lookups of `number` (international digits) answer from now on; its receipts
        carry the same as their `hlr` object."""
        self.hlr[number.lstrip("+")] = HlrEntry(state, ported)

    def accept(self, messages: list[FakeMessage]) -> None:
        """Record messages Mobivate has just accepted for sending."""
        for message in messages:
            self.sent.append(message)
            self._by_id[message.id] = message
        if self.auto_receipts and messages:
            task = asyncio.create_task(self._auto_receipts(messages))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def find_message(self, message_id: str) -> FakeMessage:
        """Either id form works: dashed lowercase UUID or 32 uppercase hex digits."""
        return self._by_id[normalise_id(message_id) or message_id]

    def messages(self) -> list[FakeMessage]:
        return [*self.sent, *self.received]

    def set_message_status(self, message: FakeMessage | str, status: str) -> None:
        """What GET /message/{id} reports from now on; sends no receipt."""
        self._resolve(message).set_status(status)

    async def send_receipt(
        self,
        message: FakeMessage | str,
        status: str = "DELIVERED",
        status_code: int | None = None,
        *,
        created: datetime | None = None,
    ) -> httpx.Response:
        """POST a delivery receipt to the registered receipt URL. `status_code` defaults to the
        documented code of `status`; `hlr` is the lookup result of a number marked with
        `set_hlr`, else null."""
        target = self._resolve(message)
        code = STATUS_CODES.get(status.upper()) if status_code is None else status_code
        if code is None:
            raise ValueError(f"unknown delivery status {status!r}: pass status_code")
        url = self._webhook("receipt")
        target.set_status(status)
        target.receipts.append(status)
        entry = self.hlr.get(target.recipient)
        hlr = None if entry is None else hlr_result(target.recipient, entry)
        payload = receipt_payload(target, status, code, created or utc_now(), hlr)
        return await self._post(url, payload)

    async def send_incoming(
        self,
        originator: str,
        body: str,
        recipient: str = "12345",
        in_reply_to: FakeMessage | str | None = None,
        *,
        created: datetime | None = None,
    ) -> httpx.Response:
        """POST an incoming message (MO) to the registered incoming URL. A reply to a known
        message carries its id as `inReplyTo` and its batch id as `logicalMessageId`."""
        url = self._webhook("incoming")
        replied_to = self._maybe_resolve(in_reply_to)
        message = FakeMessage(
            id=new_hex_id(),
            direction="MO",
            originator=originator,
            recipient=recipient,
            body=body,
            batch_id=replied_to.batch_id if replied_to else None,
            in_reply_to=replied_to.id if replied_to else _raw_id(in_reply_to),
            status="RECEIVED",
            created=created or utc_now(),
        )
        self.received.append(message)
        self._by_id[message.id] = message
        payload = incoming_payload(message, message.batch_id, self.owner_user_id)
        return await self._post(url, payload)

    async def send_click(
        self,
        message: FakeMessage | str,
        url: str = DEFAULT_CLICK_URL,
        *,
        device: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST a short-URL click notification for `message` to the registered click URL."""
        target = self._resolve(message)
        webhook = self._webhook("click")
        return await self._post(
            webhook, click_payload(target, url, {**DEFAULT_DEVICE, **(device or {})})
        )

    async def deliver_receipts(
        self, messages: Iterable[FakeMessage] | None = None, *, final_status: str = "DELIVERED"
    ) -> list[httpx.Response]:
        """Send ACCEPTED then `final_status` for each message (default: every sent message that
        has had no receipt yet); a message to a `blacklisted` number gets
        FAILED_RECIPIENT_BLACKLISTED alone."""
        targets = (
            list(messages) if messages is not None else [m for m in self.sent if not m.receipts]
        )
        responses = []
        for message in targets:
            if message.recipient in self.blacklisted:
                responses.append(await self.send_receipt(message, "FAILED_RECIPIENT_BLACKLISTED"))
                continue
            responses.append(await self.send_receipt(message, "ACCEPTED"))
            responses.append(await self.send_receipt(message, final_status))
        return responses

    async def wait_for_callbacks(self) -> None:
        """Wait until automatic receipts scheduled so far have been sent."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._owns_callback_client and self._callback_client is not None:
            await self._callback_client.aclose()
            self._callback_client = None

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.aclose()

    async def _auto_receipts(self, messages: list[FakeMessage]) -> None:
        await asyncio.sleep(self.receipt_delay)
        url = self.webhooks.get("receipt")
        if url is None:
            logger.info("no receipt webhook registered; %d receipts not sent", len(messages))
            return
        try:
            await self.deliver_receipts(messages)
        except httpx.HTTPError as exc:
            logger.warning("could not deliver receipts to %s: %s", url, exc or type(exc).__name__)
        except Exception:
            logger.exception("could not deliver receipts to %s", url)

    def _resolve(self, message: FakeMessage | str) -> FakeMessage:
        return message if isinstance(message, FakeMessage) else self.find_message(message)

    def _maybe_resolve(self, message: FakeMessage | str | None) -> FakeMessage | None:
        if isinstance(message, str):
            return self._by_id.get(normalise_id(message) or message)
        return message

    def _webhook(self, kind: str) -> str:
        try:
            return self.webhooks[kind]
        except KeyError:
            raise NoWebhook(f"no {kind} webhook registered") from None

    async def _post(self, url: str, payload: dict[str, Any]) -> httpx.Response:
        if self._callback_client is None:
            self._callback_client = httpx.AsyncClient(timeout=10.0)
        return await self._callback_client.post(url, json=payload)


class _FakeTransport(httpx.AsyncBaseTransport):
    """Serves requests from the fake in-process, or refuses the connection while it is down."""

    def __init__(self, fake: FakeMobivate) -> None:
        self._fake = fake
        self._asgi = httpx.ASGITransport(app=fake.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._fake.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self._asgi.handle_async_request(request)

    async def aclose(self) -> None:
        await self._asgi.aclose()


def _raw_id(message: FakeMessage | str | None) -> str | None:
    return message if isinstance(message, str) else None


async def _error_body(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Rejection):
        return error_response(exc.status, exc.message)
    if isinstance(exc, HTTPException):
        return error_response(exc.status_code)
    return error_response(500)
