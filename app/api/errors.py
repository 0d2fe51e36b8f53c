"""The one place errors become HTTP answers.

A domain's `ServiceError` is answered with its status and `{"detail": ...}`. "The database cannot
be reached", whichever REST operation met it, is 503 with a `detail` saying nothing was done; a
send is refused outright, because without the database the opt-out list cannot be checked.
(Webhooks never get here: they go to the outage spool.)

Anything else is a fault of ours: answered 500 with the request id, logged with its type and
traceback; SQL errors carry no parameters (`hide_parameters`), so neither does the log."""

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.core.errors import ServiceError

logger = logging.getLogger(__name__)

_SENDING_PATHS = ("/messages", "/batches")


def _unreachable(exc: Exception) -> bool:
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not _unreachable(exc):
        raise exc
    route = getattr(request.scope.get("route"), "path", "")
    if request.method == "POST" and route.endswith(_SENDING_PATHS):
        detail = (
            "database unavailable; opt-outs cannot be checked, so nothing was sent: retry later"
        )
    else:
        detail = "database unavailable; nothing was done: retry later"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    operation = getattr(request.scope.get("route"), "name", "unmatched")
    logger.error("internal error in %s: %s", operation, type(exc).__name__, exc_info=exc)
    return JSONResponse({"detail": "internal error; the request id is in X-Request-ID"}, 500)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, written in ASCII: the errors echo the input, which may hold a lone
    surrogate that UTF-8 cannot carry."""
    assert isinstance(exc, RequestValidationError)
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for error in (OSError, TimeoutError, DBAPIError):
        app.add_exception_handler(error, _database_unavailable)
