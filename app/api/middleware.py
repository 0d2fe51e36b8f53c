"""Request context: a request id on every log line and response, one access-log line and the
HTTP metrics per request. Pure ASGI (no per-request task or body buffering). The webhook hot path,
served ahead of this stack (`app.api.hot_path`), applies the same pieces: `request_id_of`,
`RouteMetrics` and `log_access`."""

import logging
import random
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logs import request_id_var
from app.core.metrics import HTTP_LATENCY, HTTP_REQUESTS

access_logger = logging.getLogger("app.access")

_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a safe one, else a new random id: 32 hex digits
    from `random` (reseeded in a forked child), as unique as a UUID's and a tenth of the cost
    of `uuid4`, which reads the system's random source on every call."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _VALID_REQUEST_ID.match(value):
                return str(value.decode())
            break
    return f"{random.getrandbits(128):032x}"


class RouteMetrics:
    """The HTTP metrics of one route template and method, their children bound once (a
    `.labels(...)` lookup takes a lock and builds a key on every call)."""

    def __init__(self, template: str, method: str) -> None:
        self.template = template
        self.method = method
        self._latency = HTTP_LATENCY.labels(template, method)
        self._requests: dict[int, Any] = {}

    def observe(self, status: int, seconds: float) -> None:
        requests = self._requests.get(status)
        if requests is None:
            requests = self._requests[status] = HTTP_REQUESTS.labels(
                self.template, self.method, str(status)
            )
        requests.inc()
        self._latency.observe(seconds)


def log_access(method: str, template: str, status: int, seconds: float) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    access_logger.info(
        "%s %s %d %.1fms",
        method,
        template,
        status,
        seconds * 1000,
        extra={
            "method": method,
            "route": template,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        },
    )


class RequestContextMiddleware:
    """`prefixed` maps routes included under a prefix (`id(route)`) to their full template, as
    the route itself knows only its own part; `mounts` are the paths of mounted apps."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        prefixed: Mapping[int, str] | None = None,
        mounts: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.prefixed = dict(prefixed or {})
        self.mounts = tuple(mounts)
        self._templates: dict[object, str] | None = None

    def _route_template(self, scope: Scope, path: str) -> str:
        """The matched route's full path template (`/api/v1/messages/{message_id}`), never the
        raw path (webhook paths carry the secret)."""
        route = scope.get("route")
        if route is not None:
            return self.prefixed.get(id(route)) or str(getattr(route, "path", "unmatched"))
        for mount in self.mounts:
            if path.startswith(mount + "/"):
                return mount + "/{path}"
        if self._templates is None:
            routes = getattr(scope.get("app"), "routes", ())
            self._templates = {
                route.endpoint: route.path for route in routes if hasattr(route, "endpoint")
            }
        return self._templates.get(scope.get("endpoint"), "unmatched")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        # Before routing, which moves a mount's prefix into root_path.
        path = scope["path"][len(scope.get("root_path", "")) :]
        header = (b"x-request-id", request_id.encode())
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            elapsed = time.perf_counter() - started
            template = self._route_template(scope, path)
            method = scope["method"]
            HTTP_REQUESTS.labels(template, method, str(status)).inc()
            HTTP_LATENCY.labels(template, method).observe(elapsed)
            if self.access_log:
                log_access(method, template, status, elapsed)
            request_id_var.reset(token)


class RootPathMiddleware:
    """Serve under a path prefix (ROOT_PATH) whether or not the proxy strips it: the same as
    uvicorn's --root-path, but part of the app so every server and test behaves alike."""

    def __init__(self, app: ASGIApp, *, root_path: str) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.root_path:
            apply_root_path(scope, self.root_path)
        await self.app(scope, receive, send)


def apply_root_path(scope: Scope, root_path: str) -> None:
    """`root_path` without its trailing slash: the request's path gains it unless it has it."""
    scope["root_path"] = root_path
    if not scope["path"].startswith(root_path + "/"):
        scope["path"] = root_path + scope["path"]
