"""Typed async client for Mobivate's v1 JSON API.

Calls that are safe to repeat are retried on `MobivateUnavailable` with capped, jittered
exponential backoff. Sends are never retried: a timeout after Mobivate accepted a message would
otherwise deliver it twice.
"""

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from app.mobivate.errors import (
    MobivateAuthError,
    MobivateError,
    MobivateOptedOut,
    MobivateRefused,
    MobivateUnavailable,
)
from app.mobivate.hlr import HlrLookup
from app.mobivate.models import (
    MAX_BATCH_SIZE,
    BatchRequest,
    Direction,
    MessageLog,
    OptoutRecord,
    SentBatch,
    SentMessage,
    SingleMessage,
    format_mobivate_datetime,
)
from app.mobivate.vocabulary import WebhookKind, says_opted_out

logger = logging.getLogger(__name__)

_MAX_PAGE_SIZE = 1000

_M = TypeVar("_M", bound=BaseModel)

_JsonBody = Mapping[str, Any]
_Params = Mapping[str, str | int]

CallObserver = Callable[[str, str, float], None]
"""Told of every HTTP call: (operation, outcome, seconds). Outcomes: ok, refused, unauthorized,
opted_out, unavailable (429 or 5xx), timeout, unreachable, bad_response."""


class _Acknowledgement(BaseModel):
    message: str = ""


class MobivateClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: SecretStr,
        timeout: float = 10.0,
        retry_attempts: int = 3,
        retry_wait_seconds: float = 0.5,
        retry_max_wait_seconds: float = 5.0,
        on_call: CallObserver | None = None,
    ) -> None:
        """`retry_attempts` counts every try of a safe call, the first included (1 = no retry)."""
        if retry_attempts < 1:
            raise ValueError("retry_attempts must be at least 1")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._retry_attempts = retry_attempts
        self._retry_wait = retry_wait_seconds
        self._retry_max_wait = retry_max_wait_seconds
        self._delete_optout_path = "/addressbook/optout"
        self._on_call = on_call

    def __repr__(self) -> str:
        return f"MobivateClient(base_url={self._base_url!r})"

    async def test_api_key(self) -> None:
        await self._call("test_api_key", "GET", "/auth/test", retry=True)

    async def register_webhook(self, kind: WebhookKind, url: str) -> str:
        """Point one notification type at `url`, replacing any URL registered before."""
        path = f"/webhooks/{WebhookKind(kind).value}"
        data = await self._call("register_webhook", "POST", path, json={"url": url}, retry=True)
        return _parse(_Acknowledgement, data, path).message

    async def send_single(self, msg: SingleMessage) -> SentMessage:
        data = await self._call(
            "send_single", "POST", "/send/single", json=msg.to_wire(), retry=False
        )
        return _parse(SentMessage, data, "/send/single")

    async def send_batch(self, batch: BatchRequest) -> SentBatch:
        if not batch.recipients:
            raise ValueError("a batch needs at least one recipient")
        if len(batch.recipients) > MAX_BATCH_SIZE:
            raise ValueError(
                f"a batch holds at most {MAX_BATCH_SIZE} recipients, got {len(batch.recipients)}"
            )
        data = await self._call(
            "send_batch", "POST", "/send/batch", json=batch.to_wire(), retry=False
        )
        return _parse(SentBatch, data, "/send/batch")

    async def add_optout(self, mobile: str) -> OptoutRecord:
        path = "/addressbook/optout"
        data = await self._call("add_optout", "POST", path, json={"mobile": mobile}, retry=True)
        return _parse(OptoutRecord, data, path)

    async def delete_optout(self, mobile: str) -> OptoutRecord:
        """Mobivate documents this as DELETE /addressbook/optout but its examples call
        DELETE /optout; try the first and fall back to the second on 404."""
        body = {"mobile": mobile}
        path = self._delete_optout_path
        try:
            data = await self._call("delete_optout", "DELETE", path, json=body, retry=True)
        except MobivateRefused as exc:
            if exc.status_code != HTTPStatus.NOT_FOUND or path == "/optout":
                raise
            path = "/optout"
            data = await self._call("delete_optout", "DELETE", path, json=body, retry=True)
            self._delete_optout_path = path
        return _parse(OptoutRecord, data, path)

    async def list_optouts(
        self,
        start: date | datetime,
        end: date | datetime,
        page: int = 1,
        page_size: int = 1000,
    ) -> list[OptoutRecord]:
        path = "/addressbook/optout"
        params = _search_params(start, end, page, page_size)
        data = await self._call("list_optouts", "GET", path, params=params, retry=True)
        return _parse_list(OptoutRecord, data, path)

    async def get_message(self, message_id: str) -> MessageLog:
        path = f"/message/{quote(message_id, safe='')}"
        data = await self._call("get_message", "GET", path, retry=True)
        return _parse(MessageLog, data, "/message/{id}")

    async def search_messages(
        self,
        start: date | datetime,
        end: date | datetime,
        page: int = 1,
        page_size: int = 1000,
        direction: Direction | None = None,
    ) -> list[MessageLog]:
        params = _search_params(start, end, page, page_size)
        if direction is not None:
            if direction not in ("MO", "MT"):
                raise ValueError(f"direction must be 'MO' or 'MT', got {direction!r}")
            params["direction"] = direction
        data = await self._call("search_messages", "GET", "/message", params=params, retry=True)
        return _parse_list(MessageLog, data, "/message")

    async def hlr_lookup(self, numbers: Sequence[str]) -> HlrLookup:
        """Verify numbers (international digits, no '+') with `GET /hlr?lookup=`. Not retried:
        every number is billed, and a retry after a timeout could be billed twice."""
        if not numbers:
            raise ValueError("an HLR lookup needs at least one number")
        for number in numbers:
            if not (number.isascii() and number.isdigit()):
                raise ValueError("HLR lookups take international numbers as digits only")
        params = {"lookup": ",".join(numbers)}
        data = await self._call("hlr_lookup", "GET", "/hlr", params=params, retry=False)
        return _parse(HlrLookup, data, "/hlr")

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: _JsonBody | None = None,
        params: _Params | None = None,
        retry: bool,
    ) -> object:
        if not retry:
            return await self._request(operation, method, path, json=json, params=params)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry_attempts),
            wait=self._backoff,
            retry=retry_if_exception_type(MobivateUnavailable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._request(operation, method, path, json=json, params=params)
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _backoff(self, state: RetryCallState) -> float:
        """Doubling from `retry_wait_seconds`, plus up to as much again of jitter, capped."""
        doubled = self._retry_wait * 2.0 ** (state.attempt_number - 1)
        return min(self._retry_max_wait, doubled + random.uniform(0, self._retry_wait))

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: _JsonBody | None,
        params: _Params | None,
    ) -> object:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._exchange(method, path, json=json, params=params)
        except MobivateError as exc:
            outcome = _outcome(exc)
            raise
        finally:
            if self._on_call is not None:
                self._on_call(operation, outcome, time.perf_counter() - started)

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        json: _JsonBody | None,
        params: _Params | None,
    ) -> object:
        headers = {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method,
                self._base_url + path,
                json=json,
                params=params,
                headers=headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise MobivateUnavailable(
                f"Mobivate timed out on {method} {path}", reason="timeout"
            ) from exc
        except httpx.RequestError as exc:
            raise MobivateUnavailable(
                f"Mobivate unreachable on {method} {path}: {type(exc).__name__}",
                reason="unreachable",
            ) from exc
        logger.debug(
            "mobivate %s %s -> %s in %.1f ms",
            method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return self._interpret(method, path, response)

    def _interpret(self, method: str, path: str, response: httpx.Response) -> object:
        status = response.status_code
        where = f"{method} {path}"
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise MobivateUnavailable(
                f"Mobivate answered {where} with HTTP {status}", status_code=status
            )
        if status >= HTTPStatus.BAD_REQUEST:
            raise self._refusal(where, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise MobivateUnavailable(
                f"Mobivate answered {where} with a body that is not JSON",
                status_code=status,
                reason="bad_response",
            ) from exc

    def _refusal(self, where: str, response: httpx.Response) -> MobivateRefused:
        code: int | None = None
        message = response.reason_phrase or HTTPStatus(response.status_code).phrase
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            if isinstance(body.get("code"), int):
                code = body["code"]
            if isinstance(body.get("message"), str) and body["message"]:
                message = body["message"]
        secret = self._api_key.get_secret_value()
        if secret:
            message = message.replace(secret, "**********")
        status = response.status_code
        error_class: type[MobivateRefused] = MobivateRefused
        if status == HTTPStatus.UNAUTHORIZED:
            error_class = MobivateAuthError
        elif status == HTTPStatus.FORBIDDEN:
            # v1 uses 403 for opted-out recipients; the newer API uses it for key permissions.
            opted_out = "opt" in message.lower() or says_opted_out(message)
            error_class = MobivateOptedOut if opted_out else MobivateAuthError
        elif says_opted_out(message):
            # Undocumented, but a refusal that says so is about the recipient, whatever its code.
            error_class = MobivateOptedOut
        return error_class(status, code, message, path=where)


def _outcome(exc: MobivateError) -> str:
    if isinstance(exc, MobivateUnavailable):
        return exc.reason
    if isinstance(exc, MobivateAuthError):
        return "unauthorized"
    if isinstance(exc, MobivateOptedOut):
        return "opted_out"
    return "refused"


def _parse(model: type[_M], data: object, path: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _unreadable(path, exc) from exc


def _parse_list(model: type[_M], data: object, path: str) -> list[_M]:
    if not isinstance(data, list):
        raise MobivateUnavailable(
            f"Mobivate answered {path} with something other than a list", reason="bad_response"
        )
    return [_parse(model, item, path) for item in data]


def _unreadable(path: str, exc: ValidationError) -> MobivateUnavailable:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()[:3]
    )
    return MobivateUnavailable(
        f"Mobivate answered {path} with an unexpected body: {problems}", reason="bad_response"
    )


def _search_params(
    start: date | datetime, end: date | datetime, page: int, page_size: int
) -> dict[str, str | int]:
    if page < 1:
        raise ValueError(f"page starts at 1, got {page}")
    if not 1 <= page_size <= _MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {_MAX_PAGE_SIZE}, got {page_size}")
    return {
        "startDate": _query_date(start),
        "endDate": _query_date(end),
        "page": page,
        "pageSize": page_size,
    }


def _query_date(value: date | datetime) -> str:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("datetimes sent to Mobivate must be timezone-aware")
        return format_mobivate_datetime(value)
    return value.isoformat()
