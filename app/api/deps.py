"""How routes reach the running service, and the bearer-token check of the REST API (the live
feed also takes a stream ticket, `app.api.tickets`).

Every token carries scopes (`app.config.Scope`, set in API_TOKENS); each route needs one, named
with `requires(...)` in its `openapi_extra` or else `read` for GET and `admin` for anything else.
A token without it gets 403 naming the scope.

The running service is one `app.runtime.Runtime`, kept as `app.state.runtime` while the app's
lifespan runs. A route takes the part it needs by name and type, `runtime_part("feed",
FeedWatcher)`: the part is checked against the type when it is taken, so a route is typed without
importing the composition root, which imports every domain (routes live in their domains).
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from app.api import tickets
from app.config import Scope, Settings
from app.mobivate.client import MobivateClient

T = TypeVar("T")

API_PREFIX = "/api/v1"

_bearer = HTTPBearer(auto_error=False, description="A token from API_TOKENS or API_READ_TOKENS")


class NotServing(RuntimeError):
    """A part that exists only while the service is serving was asked for elsewhere."""


def part_of(app: ASGIApp, name: str, kind: type[T]) -> T:
    """The runtime's part `name`, which must be a `kind`."""
    runtime = app.state.runtime  # type: ignore[attr-defined]
    value = getattr(runtime, name)
    if not isinstance(value, kind):
        raise NotServing(f"the running service has no {name} ({type(value).__name__})")
    return value


def optional_part_of(app: ASGIApp, name: str, kind: type[T]) -> T | None:
    """As `part_of`, for a part that may be absent (None)."""
    value = getattr(app.state.runtime, name)  # type: ignore[attr-defined]
    return None if value is None else part_of(app, name, kind)


def runtime_part(name: str, kind: type[T]) -> Any:
    """A dependency giving the runtime's part `name`, a `kind`."""

    def dependency(request: Request) -> T:
        return part_of(request.app, name, kind)

    return Depends(dependency)


def optional_runtime_part(name: str, kind: type[T]) -> Any:
    def dependency(request: Request) -> T | None:
        return optional_part_of(request.app, name, kind)

    return Depends(dependency)


SettingsDep = Annotated[Settings, runtime_part("settings", Settings)]
EngineDep = Annotated[AsyncEngine, runtime_part("engine", AsyncEngine)]
WebhookSecretDep = Annotated[str, runtime_part("webhook_secret", str)]
# None without MOBIVATE_API_KEY.
MobivateDep = Annotated[MobivateClient | None, optional_runtime_part("mobivate", MobivateClient)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a REST API request: a fingerprint of the token (never the token) and its
    scopes."""

    fingerprint: str
    scopes: frozenset[Scope]


_SCOPE_KEY = "x-required-scope"


def requires(scope: Scope) -> dict[str, Any]:
    """A route's `openapi_extra` naming the scope it needs. Without one, GET needs `read` and
    every other method `admin`, so a write route nobody thought about is closed to the rest."""
    return {_SCOPE_KEY: str(scope)}


def required_scope(openapi_extra: Mapping[str, Any] | None, method: str) -> Scope:
    """The scope an operation needs, from its `openapi_extra` (or its OpenAPI operation)."""
    declared = (openapi_extra or {}).get(_SCOPE_KEY)
    if declared is not None:
        return Scope(declared)
    return Scope.READ if method in ("GET", "HEAD") else Scope.ADMIN


def token_fingerprint(token: str) -> str:
    return hashlib.sha256(b"mobivate-hooks api token\x00" + token.encode()).hexdigest()[:16]


def _caller(
    tokens: dict[str, frozenset[Scope]], credentials: HTTPAuthorizationCredentials | None
) -> Caller:
    if not tokens:
        raise _unauthorized(
            "the REST API is disabled until a token is configured: set API_TOKENS "
            "(comma-separated) and send 'Authorization: Bearer <token>'"
        )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    offered = credentials.credentials.encode()
    # Compare against every token so the time taken does not tell which one nearly matched.
    matched: str | None = None
    for token in tokens:
        if hmac.compare_digest(offered, token.encode()):
            matched = token
    if matched is None:
        raise _unauthorized("invalid bearer token")
    return Caller(token_fingerprint(matched), tokens[matched])


def _check_scope(request: Request, caller: Caller) -> None:
    route = request.scope.get("route")
    scope = required_scope(getattr(route, "openapi_extra", None), request.method)
    if scope not in caller.scopes:
        path = API_PREFIX + str(getattr(route, "path", ""))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this token lacks the '{scope}' scope that {request.method} {path} needs",
        )


def require_api_token(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    caller = _caller(settings.api_token_scopes, credentials)
    _check_scope(request, caller)
    return caller


def require_api_token_or_ticket(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The bearer token, or (the live feed only) a stream ticket in `?ticket=`, which only a
    token with the `read` scope can obtain."""
    ticket = request.query_params.get("ticket")
    if ticket is None or credentials is not None:
        _check_scope(request, _caller(settings.api_token_scopes, credentials))
        return
    problem = tickets.check(settings.api_token_list, ticket)
    if problem is not None:
        raise _unauthorized(problem)


def require_docs_access(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """`/docs`, `/redoc` and `/openapi.json` as API_DOCS says: public, behind the token, or off."""
    if settings.api_docs == "off":
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    if settings.api_docs == "token":
        _caller(settings.api_token_scopes, credentials)


ApiAuth = Depends(require_api_token)
TokenOrTicketAuth = Depends(require_api_token_or_ticket)
# The authenticated caller, in a route behind ApiAuth (checked once per request).
CallerDep = Annotated[Caller, ApiAuth]
DocsAccess = Depends(require_docs_access)
