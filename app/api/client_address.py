"""The client address every part of the service sees (`scope["client"]`): the TCP peer, or what
a trusted proxy (FORWARDED_ALLOW_IPS) says in `X-Forwarded-For` when that is an IP address.

uvicorn's proxy-headers middleware believes any text a trusted proxy forwards; a value that is not
an IP address (`evil\\nforged log line`, a different string on every request) would then name the
client in logs and in the wrong-secret throttle. Such a value is ignored here: the request keeps
the address of the peer that sent it, so a local client cannot dodge the throttle or write text
into the logs by inventing addresses.

The rule is one synchronous function (`ClientAddress.apply`) so that the webhook hot path, served
ahead of the middleware stack, applies exactly what the middleware applies. Which peers are
trusted is uvicorn's rule (its `_TrustedHosts`, reached through its middleware), remembered per
peer address: parsing an address on every request costs more than the rest of this."""

import ipaddress
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

_SCHEMES = frozenset({"http", "https", "ws", "wss"})
# Peers whose trust is remembered; past this many the memory starts again.
_REMEMBERED_PEERS = 1024


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class ClientAddress:
    def __init__(self, trusted_hosts: str) -> None:
        # uvicorn types its middleware with its own ASGI types, Starlette with plain mappings.
        proxy: Any = ProxyHeadersMiddleware
        self._trusted: Any = proxy(None, trusted_hosts=trusted_hosts).trusted_hosts
        self._peers: dict[str | None, bool] = {}

    def _is_trusted(self, host: str | None) -> bool:
        trusted = self._peers.get(host)
        if trusted is None:
            if len(self._peers) >= _REMEMBERED_PEERS:
                self._peers.clear()
            trusted = self._peers[host] = host in self._trusted
        return trusted

    def apply(self, scope: Scope) -> None:
        """Sets `scope["client"]` (and `scope["scheme"]`) from a trusted proxy's headers."""
        peer = scope.get("client")
        if not self._is_trusted(peer[0] if peer else None):
            return
        proto: bytes | None = None
        forwarded_for: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto = value
            elif name == b"x-forwarded-for":
                forwarded_for.append(value)
        if proto is not None:
            scheme = proto.decode("latin-1").strip()
            if scheme in _SCHEMES:
                is_websocket = scope["type"] == "websocket"
                scope["scheme"] = scheme.replace("http", "ws") if is_websocket else scheme
        if forwarded_for:
            text = b", ".join(forwarded_for).decode("latin-1")
            host, port = self._trusted.get_trusted_client_address(text)
            if host and is_ip_address(host):
                scope["client"] = (host, port)


class ClientAddressMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_hosts: str) -> None:
        self.app = app
        self.client_address = ClientAddress(trusted_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.client_address.apply(scope)
        await self.app(scope, receive, send)
