"""Mobivate's contacts proxy (API reference §10.1): adding a number to, or removing it from, the
generic opt-out list of Mobivate's other applications.

    GET {base}/api/contacts/create?username=...&password=...&msisdn=...&applications=optouts:sms
    GET {base}/api/contacts/delete?...same...

The proxy takes the account's password in the query string, so this client keeps it out of every
URL that anything else sees: requests are built without it, and `PasswordTransport` adds it to a
copy of the request at the last moment, on its way to the network. httpx logs, and puts into its
errors, the request it was given, which never holds the password; the errors this client raises
are its own, with the password masked in anything Mobivate answered. Answers, documented as
`{"status": "ok", "optouts:robocall": "ok"}` or `{"code": 401, "message": "Not Authenticated"}`,
are read defensively: an error code in the body counts even with HTTP 200, and so does a
`status` or an application result other than "ok".
"""

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Literal, NoReturn

import httpx
from pydantic import SecretStr

from app.mobivate.errors import MobivateAuthError, MobivateRefused, MobivateUnavailable

logger = logging.getLogger(__name__)

APPLICATIONS = "optouts:sms"
DEFAULT_CONTACTS_URL = "https://tasks-wave.mobivate.com"
ContactsOperation = Literal["contacts_create", "contacts_delete"]
_PATHS: dict[ContactsOperation, str] = {
    "contacts_create": "/api/contacts/create",
    "contacts_delete": "/api/contacts/delete",
}
_MASK = "**********"


class PasswordTransport(httpx.AsyncBaseTransport):
    """Adds `password` to the query of each request it sends, on a copy of the request."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, password: SecretStr, *, owns_inner: bool = True
    ) -> None:
        self._inner = inner
        self._password = password
        self._owns_inner = owns_inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url.copy_add_param("password", self._password.get_secret_value())
        sent = httpx.Request(
            request.method,
            url,
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(sent)

    async def aclose(self) -> None:
        if self._owns_inner:
            await self._inner.aclose()


def contacts_http_client(
    password: SecretStr,
    *,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The proxy's own HTTP client, whose transport adds the password (tests pass the fake's,
    which stays theirs to close)."""
    inner = transport if transport is not None else httpx.AsyncHTTPTransport()
    return httpx.AsyncClient(
        transport=PasswordTransport(inner, password, owns_inner=transport is None),
        timeout=timeout,
        headers={"User-Agent": "mobivate-hooks"},
    )


class ContactsProxyClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        username: str,
        password: SecretStr,
        on_call: Callable[[str, str, float], None] | None = None,
    ) -> None:
        """`http` must be `contacts_http_client(password, ...)`: it adds the password."""
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._on_call = on_call

    async def create(self, msisdn: str) -> str:
        """Put the number on the generic opt-out list; returns the proxy's answer, in short."""
        return await self._call("contacts_create", msisdn)

    async def delete(self, msisdn: str) -> str:
        return await self._call("contacts_delete", msisdn)

    async def _call(self, operation: ContactsOperation, msisdn: str) -> str:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._exchange(operation, msisdn)
        except MobivateUnavailable as exc:
            outcome = exc.reason
            raise
        except MobivateAuthError:
            outcome = "unauthorized"
            raise
        except MobivateRefused:
            outcome = "refused"
            raise
        finally:
            if self._on_call is not None:
                self._on_call(operation, outcome, time.perf_counter() - started)

    async def _exchange(self, operation: ContactsOperation, msisdn: str) -> str:
        path = _PATHS[operation]
        where = f"GET {path}"
        params = {"username": self._username, "msisdn": msisdn, "applications": APPLICATIONS}
        try:
            response = await self._http.get(self._base_url + path, params=params)
        except httpx.TimeoutException:
            raise MobivateUnavailable(
                f"Mobivate's contacts proxy timed out on {where}", reason="timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise MobivateUnavailable(
                f"Mobivate's contacts proxy unreachable on {where}: {type(exc).__name__}",
                reason="unreachable",
            ) from None
        logger.debug("contacts proxy %s -> %s", where, response.status_code)
        return self._interpret(where, response)

    def _interpret(self, where: str, response: httpx.Response) -> str:
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise MobivateUnavailable(
                f"Mobivate's contacts proxy answered {where} with HTTP {status}",
                status_code=status,
            )
        try:
            body: object = response.json()
        except ValueError:
            body = None
        code, message = _error_of(body)
        if status >= HTTPStatus.BAD_REQUEST or code is not None:
            self._refused(where, code or status, message or response.reason_phrase)
        if not isinstance(body, dict):
            raise MobivateUnavailable(
                f"Mobivate's contacts proxy answered {where} with a body that is not a JSON object",
                status_code=status,
                reason="bad_response",
            )
        problems = [
            f"{key}: {value}"
            for key, value in body.items()
            if (key == "status" or key.startswith("optouts")) and str(value).lower() != "ok"
        ]
        if problems:
            self._refused(where, HTTPStatus.UNPROCESSABLE_ENTITY, "; ".join(problems))
        return self._masked(", ".join(f"{key}: {value}" for key, value in body.items()))[:200]

    def _refused(self, where: str, code: int, message: str) -> NoReturn:
        text = self._masked(message)[:500]
        if code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN) or "authenticat" in text.lower():
            raise MobivateAuthError(code, code, text, path=f"{where} (contacts proxy)")
        raise MobivateRefused(code, code, text, path=f"{where} (contacts proxy)")

    def _masked(self, text: str) -> str:
        secret = self._password.get_secret_value()
        return text.replace(secret, _MASK) if secret else text


def _error_of(body: object) -> tuple[int | None, str | None]:
    """An error `code` (400 or more) and `message` in the body, if it holds one."""
    if not isinstance(body, dict):
        return None, None
    code = body.get("code")
    message = body.get("message")
    text = message if isinstance(message, str) and message else None
    if isinstance(code, int) and not isinstance(code, bool) and code >= HTTPStatus.BAD_REQUEST:
        return code, text
    return None, None
