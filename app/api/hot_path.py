"""The webhook hot path, served ahead of the middleware stack.

`POST {ROOT_PATH}/webhooks/{secret}/{kind}` goes from the server straight to the webhook endpoint;
every other request (another method on that path included) goes through the whole stack as
before. What the stack does for every request, the hot path does itself with the same functions:
ROOT_PATH, the client address behind a trusted proxy (FORWARDED_ALLOW_IPS), the request id
(`X-Request-ID` on the answer and on every log line), one access-log line and the HTTP metrics
under the route template (never the raw path, which carries the secret), and a `500` naming the
request id for a fault of ours. CORS and the REST API's body limit are not applied: Mobivate posts
server to server, and webhooks keep their own limit (MAX_BODY_BYTES).

Measured by `bench/http_path.py` (CPU per webhook in the app, without server and database,
median of 7 rounds on a loaded 2-core machine): 113 µs served here, 147 µs through the stack
(FastAPI's error and exit-stack middleware, the route list, the request-context, client-address
and body-limit middleware, each a coroutine of its own); the reference FastAPI endpoint 212 µs.
"""

import logging
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.client_address import ClientAddress
from app.api.middleware import RouteMetrics, apply_root_path, log_access, request_id_of
from app.core.errors import ServiceError
from app.core.logs import request_id_var

logger = logging.getLogger("app.api.errors")

_INTERNAL_ERROR = b'{"detail":"internal error; the request id is in X-Request-ID"}'


class HotPath:
    """Sends `POST {prefix}{a}/{b}` (two path segments, named by `params`) to `endpoint`, and
    everything else to `stack`."""

    def __init__(
        self,
        stack: ASGIApp,
        *,
        endpoint: ASGIApp,
        template: str,
        client_address: ClientAddress,
        root_path: str = "",
        access_log: bool = True,
    ) -> None:
        prefix, first, second = _parse_template(template)
        self.stack = stack
        self.endpoint = endpoint
        self.template = template
        self.prefix = prefix
        self.params = (first, second)
        self.client_address = client_address
        self.root_path = root_path.rstrip("/")
        self.access_log = access_log
        self.metrics = RouteMetrics(template, "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            params = self._match(scope)
            if params is not None:
                await self._serve(scope, params, receive, send)
                return
        await self.stack(scope, receive, send)

    def _match(self, scope: Scope) -> dict[str, str] | None:
        path: str = scope["path"]
        root = self.root_path or scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        if not path.startswith(self.prefix):
            return None
        first, _, second = path[len(self.prefix) :].partition("/")
        if not first or not second or "/" in second:
            return None
        if self.root_path:
            apply_root_path(scope, self.root_path)
        return {self.params[0]: first, self.params[1]: second}

    async def _serve(
        self, scope: Scope, params: dict[str, str], receive: Receive, send: Send
    ) -> None:
        scope["path_params"] = params
        self.client_address.apply(scope)
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status = 500  # as the stack records it, also when the client left before its answer
        answered = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = [*message["headers"], header]
            await send(message)

        try:
            await self.endpoint(scope, receive, send_with_request_id)
        except Exception as exc:
            if answered:
                raise
            status, body = _error_answer(exc)
            await _answer(send, status, body, header)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(status, elapsed)
            if self.access_log:
                log_access("POST", self.template, status, elapsed)
            request_id_var.reset(token)


def _parse_template(template: str) -> tuple[str, str, str]:
    """`/webhooks/{secret}/{kind}` -> (`/webhooks/`, `secret`, `kind`)."""
    prefix, _, names = template.partition("{")
    first, _, rest = names.partition("}/{")
    second = rest.removesuffix("}")
    if not prefix.endswith("/") or not first or not second or "/" in second:
        raise ValueError(f"not a template of two parameters after a prefix: {template}")
    return prefix, first, second


def _error_answer(exc: Exception) -> tuple[int, bytes]:
    if isinstance(exc, ServiceError):
        return exc.status, orjson.dumps({"detail": exc.detail})
    logger.error("internal error in the webhook endpoint: %s", type(exc).__name__, exc_info=exc)
    return 500, _INTERNAL_ERROR


async def _answer(send: Send, status: int, body: bytes, *headers: tuple[bytes, bytes]) -> None:
    response_headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
