"""The Mobivate v1 endpoints the fake serves. Authentication and failure injection happen before
these handlers run (see gate.py)."""

import json
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.fake_mobivate.hlr import hlr_answer
from app.fake_mobivate.payloads import message_log, optout_record
from app.fake_mobivate.records import FakeMessage, new_hex_id
from app.fake_mobivate.rules import (
    Rejection,
    check_http_url,
    check_mobile,
    check_originator,
    check_schedule,
    date_param,
    optional_bool,
    optional_int,
    optional_str,
    page_slice,
    required_str,
)

if TYPE_CHECKING:
    from app.fake_mobivate.core import FakeMobivate

MAX_BATCH_SIZE = 1000
WEBHOOK_KINDS = ("receipt", "incoming", "click")


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise Rejection(400, "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise Rejection(400, "Request body must be a JSON object")
    return body


class MobivateApi:
    def __init__(self, fake: "FakeMobivate") -> None:
        self.fake = fake

    def routes(self) -> list[Route]:
        return [
            Route("/auth/test", self.auth_test, methods=["GET", "POST"]),
            Route("/webhooks/{kind}", self.register_webhook, methods=["POST"]),
            Route("/send/single", self.send_single, methods=["POST"]),
            Route("/send/batch", self.send_batch, methods=["POST"]),
            Route("/addressbook/optout", self.list_optouts, methods=["GET"]),
            Route("/addressbook/optout", self.add_optout, methods=["POST"]),
            Route("/addressbook/optout", self.delete_optout, methods=["DELETE"]),
            Route("/optout", self.delete_optout, methods=["DELETE"]),
            Route("/message", self.search_messages, methods=["GET"]),
            Route("/message/{id}", self.get_message, methods=["GET"]),
            Route("/hlr", self.hlr_lookup, methods=["GET"]),
        ]

    async def auth_test(self, request: Request) -> JSONResponse:
        return JSONResponse({"message": "API Key is valid"})

    async def register_webhook(self, request: Request) -> JSONResponse:
        kind = request.path_params["kind"]
        if kind not in WEBHOOK_KINDS:
            raise Rejection(404)
        body = await json_object(request)
        self.fake.webhooks[kind] = check_http_url(required_str(body, "url"))
        return JSONResponse({"message": "Webhook updated successfully"})

    async def send_single(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        originator = check_originator(required_str(body, "originator"))
        recipient = check_mobile(required_str(body, "recipient"))
        text = required_str(body, "body")
        route_id = required_str(body, "routeId")
        reference = optional_str(body, "reference")
        campaign_id = optional_str(body, "campaignId")
        shorten_urls = optional_bool(body, "shortenUrls") or False
        check_schedule(optional_str(body, "scheduleDateTime"))
        if recipient in self.fake.optouts and optional_bool(body, "excludeOptouts") is not False:
            raise Rejection(*self.fake.optout_refusal)
        message_uuid = uuid.uuid4()
        message = FakeMessage(
            id=message_uuid.hex.upper(),
            response_id=str(message_uuid),
            batch_id=new_hex_id(),
            direction="MT",
            originator=originator,
            recipient=recipient,
            body=text,
            reference=reference,
            route_id=route_id,
            campaign_id=campaign_id,
            shorten_urls=shorten_urls,
        )
        self.fake.accept([message])
        return JSONResponse(
            {
                "id": message.response_id,
                "originator": originator,
                "recipient": recipient,
                "body": text,
                "routeId": route_id,
                "reference": reference,
                "campaignId": campaign_id,
            }
        )

    async def send_batch(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        route_id = required_str(body, "routeId")
        items = body.get("recipients")
        if items is None:
            raise Rejection(400, "Missing required field: recipients")
        if not isinstance(items, list) or not items:
            raise Rejection(400, "recipients: must be a non-empty array")
        if len(items) > MAX_BATCH_SIZE:
            raise Rejection(400, f"recipients: at most {MAX_BATCH_SIZE} messages per batch")
        echoed = [_batch_item(item, f"recipients[{index}].") for index, item in enumerate(items)]
        exclude_optouts = optional_bool(body, "excludeOptouts")
        exclude_duplicates = optional_bool(body, "excludeDuplicates")
        shorten_urls = optional_bool(body, "shortenUrls") or False
        spread_hours = optional_int(body, "spreadHours") or 0
        name = optional_str(body, "name")
        schedule = check_schedule(optional_str(body, "scheduleDateTime"))
        batch_uuid = uuid.uuid4()
        accepted = self._accepted_items(
            echoed, exclude_optouts is not False, exclude_duplicates is not False
        )
        self.fake.accept(
            [
                FakeMessage(
                    id=new_hex_id(),
                    batch_id=batch_uuid.hex.upper(),
                    direction="MT",
                    originator=item["originator"],
                    recipient=item["recipient"],
                    body=item["text"],
                    reference=item["reference"],
                    route_id=item["routeId"] or route_id,
                    shorten_urls=shorten_urls,
                )
                for item in accepted
            ]
        )
        return JSONResponse(
            {
                "id": batch_uuid.hex,
                "name": name,
                "routeId": route_id,
                "shortenUrls": shorten_urls,
                "spreadHours": spread_hours,
                "excludeOptouts": exclude_optouts is not False,
                "excludeDuplicates": exclude_duplicates is not False,
                "scheduleDateTime": schedule,
                "recipients": echoed,
            }
        )

    def _accepted_items(
        self, items: Iterable[dict[str, Any]], exclude_optouts: bool, exclude_duplicates: bool
    ) -> list[dict[str, Any]]:
        accepted, seen = [], set()
        for item in items:
            recipient = item["recipient"]
            if exclude_optouts and recipient in self.fake.optouts:
                continue
            if exclude_duplicates and recipient in seen:
                continue
            seen.add(recipient)
            accepted.append(item)
        return accepted

    async def list_optouts(self, request: Request) -> JSONResponse:
        start = date_param(request.query_params, "startDate")
        end = date_param(request.query_params, "endDate")
        window = page_slice(request.query_params)
        entries = sorted(
            (entry for entry in self.fake.optouts.values() if start <= entry.created <= end),
            key=lambda entry: (entry.created, entry.id),
        )
        return JSONResponse([optout_record(entry, with_id=True) for entry in entries[window]])

    async def add_optout(self, request: Request) -> JSONResponse:
        mobile = check_mobile(required_str(await json_object(request), "mobile"))
        entry = self.fake.optouts.get(mobile) or self.fake.add_optout(mobile, note="API")
        return JSONResponse(optout_record(entry, with_id=False))

    async def delete_optout(self, request: Request) -> JSONResponse:
        mobile = check_mobile(required_str(await json_object(request), "mobile"))
        entry = self.fake.optouts.pop(mobile, None)
        if entry is None:
            raise Rejection(404)
        return JSONResponse(optout_record(entry, with_id=False))

    async def get_message(self, request: Request) -> JSONResponse:
        try:
            message = self.fake.find_message(request.path_params["id"])
        except KeyError:
            raise Rejection(404) from None
        return JSONResponse(message_log(message))

    async def search_messages(self, request: Request) -> JSONResponse:
        start = date_param(request.query_params, "startDate")
        end = date_param(request.query_params, "endDate")
        direction = request.query_params.get("direction")
        if direction not in (None, "MO", "MT"):
            raise Rejection(400, "direction: must be MO or MT")
        window = page_slice(request.query_params)
        found = sorted(
            (
                message
                for message in self.fake.messages()
                if start <= message.created <= end and direction in (None, message.direction)
            ),
            key=lambda message: message.created,
        )
        return JSONResponse([message_log(message) for message in found[window]])

    async def hlr_lookup(self, request: Request) -> JSONResponse:
        raw = request.query_params.get("lookup")
        if not raw:
            raise Rejection(400, "Missing required parameter: lookup")
        numbers = [part.strip().lstrip("+") for part in raw.split(",")]
        for number in numbers:
            check_mobile(number)
        self.fake.hlr_lookups.append(numbers)
        return JSONResponse(hlr_answer(numbers, self.fake.hlr))


def _batch_item(item: object, where: str) -> dict[str, Any]:
    """One batch recipient, validated, in the shape Mobivate echoes back."""
    if not isinstance(item, dict):
        raise Rejection(400, f"{where.rstrip('.')}: must be a JSON object")
    return {
        "originator": check_originator(required_str(item, "originator", where=where)),
        "recipient": check_mobile(required_str(item, "recipient", where=where)),
        "text": required_str(item, "text", where=where),
        "reference": optional_str(item, "reference", where=where),
        "routeId": optional_str(item, "routeId", where=where),
    }
