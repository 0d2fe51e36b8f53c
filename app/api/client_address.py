"""The client address every part of the service sees (`scope["client"]`): the TCP peer, or what
a trusted proxy (FORWARDED_ALLOW_IPS) says in `X-Forwarded-For` when that is an IP address.

uvicorn's proxy-headers middleware believes any text a trusted proxy forwards; a value that is not
an IP address (`evil\\nforged log line`, a different string on every request) would then name the
client in logs and in the wrong-secret throttle. Such a value is ignored here: the request keeps
the address of the peer that sent it, so a local client cannot dodge the throttle or write text
into the logs by inventing addresses."""

import ipaddress
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

_PEER = "mobivate_hooks.peer"


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class ClientAddressMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_hosts: str) -> None:
        self.app = app
        # uvicorn types its middleware with its own ASGI types, Starlette with plain mappings.
        proxy: Any = ProxyHeadersMiddleware
        self._proxy: Any = proxy(self._checked, trusted_hosts=trusted_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[_PEER] = scope.get("client")
        await self._proxy(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if client is not None and not is_ip_address(str(client[0])):
            scope["client"] = scope[_PEER]
        await self.app(scope, receive, send)
