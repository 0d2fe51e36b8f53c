"""Stream tickets: how a browser opens the live feed, since `EventSource` cannot send an
`Authorization` header and the API token must never travel in a URL (it would be kept in proxy
logs and browser history).

`POST /api/v1/events/stream-ticket`, made with the bearer token, returns a ticket; the page then
opens `/api/v1/events/stream?ticket=...`. A ticket is `<expiry>.<nonce>.<mac>`, the MAC an
HMAC-SHA256 over its purpose, expiry and nonce with a key derived from API_TOKENS, so:
- it opens the live feed and nothing else (the purpose is signed; no other route reads tickets);
- it is short-lived: it opens a stream until its expiry (STREAM_TICKET_TTL_SECONDS); a stream
  opened in time stays open;
- every worker and replica with the same API_TOKENS accepts it, with no shared state, and
  rotating the tokens voids every ticket issued before.
"""

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

PURPOSE = b"events-stream"
_KEY_LABEL = b"mobivate-hooks stream ticket key"


@dataclass(frozen=True, slots=True)
class Ticket:
    value: str
    expires_at: float  # Unix time


def _key(tokens: list[str]) -> bytes:
    material = b"\x00".join(token.encode() for token in sorted(tokens))
    return hmac.new(_KEY_LABEL, material, hashlib.sha256).digest()


def _mac(key: bytes, expiry: str, nonce: str) -> str:
    signed = b"\x00".join((PURPOSE, expiry.encode(), nonce.encode()))
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(tokens: list[str], ttl_seconds: float, *, now: float | None = None) -> Ticket:
    """A ticket valid for `ttl_seconds`; `tokens` are the API tokens (at least one)."""
    if not tokens:
        raise ValueError("stream tickets need API_TOKENS")
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    expiry, nonce = str(expires_at), secrets.token_urlsafe(12)
    return Ticket(f"{expiry}.{nonce}.{_mac(_key(tokens), expiry, nonce)}", float(expires_at))


def check(tokens: list[str], value: str, *, now: float | None = None) -> str | None:
    """None when `value` is a valid, unexpired ticket; else why it is not."""
    if not tokens:
        return "the REST API is disabled until a token is configured (API_TOKENS)"
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(value) > 200:
        return "malformed stream ticket"
    expiry, nonce, mac = parts
    if not hmac.compare_digest(mac.encode(), _mac(_key(tokens), expiry, nonce).encode()):
        return "invalid stream ticket"
    if int(expiry) <= (time.time() if now is None else now):
        return "stream ticket expired: ask POST /api/v1/events/stream-ticket for a new one"
    return None
