"""Where a subscription may send: an absolute https URL (http too when ENVIRONMENT=development),
never the service's own loopback or a private, link-local or otherwise non-public address
unless SUBSCRIPTION_ALLOW_PRIVATE=true (server-side request forgery).

The host is checked when the subscription is saved and resolved again before every delivery;
the delivery then connects to the very address that was checked (the URL's host kept for the
`Host` header and TLS), so a name that changes its answer between the check and the connection
cannot lead a delivery inside.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from app.core.errors import ServiceError

MAX_URL_LENGTH = 2048
CONNECTIONS = 50
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ServiceError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, status=422)


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    host: str
    address: IPAddress

    def connect_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        return parts._replace(netloc=netloc).geturl()


def check_url(url: str, *, allow_http: bool) -> str:
    """The URL if its form is acceptable, else TargetRefused saying why."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"url: at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"url: not a URL ({exc})") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        wanted = "https:// (or http:// with ENVIRONMENT=development)"
        raise TargetRefused(f"url: must start with {'http(s)://' if allow_http else wanted}")
    if not parts.hostname:
        raise TargetRefused("url: has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url: must not carry a user name or password")
    if parts.fragment:
        raise TargetRefused("url: must not have a #fragment")
    if port == 0:
        raise TargetRefused("url: port 0 is not a port")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise TargetRefused("url: must not contain spaces or control characters")
    return url


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The address a delivery to `url` connects to: the first the host resolves to, refused if
    any of them is not public (unless `allow_private`)."""
    host = urlsplit(url).hostname or ""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise TargetRefused(f"url: the host {host!r} does not resolve ({exc})") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise TargetRefused(f"url: the host {host!r} has no address")
    if not allow_private:
        for address in addresses:
            if not _public(address):
                raise TargetRefused(
                    f"url: {host!r} is {address}, a loopback, private or reserved address; "
                    "set SUBSCRIPTION_ALLOW_PRIVATE=true to deliver inside your network"
                )
    return Target(url, host, addresses[0])


def delivery_http_client(timeout: float) -> httpx.AsyncClient:
    """Never follows redirects: a redirect could lead anywhere, past the address check."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": "mobivate-hooks"},
        limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
    )
