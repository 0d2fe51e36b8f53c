"""The one place errors become HTTP answers.

A domain's `ServiceError` is answered with its status and `{"detail": ...}`. "The database cannot
be reached", whichever REST operation met it, is 503 with a `detail` saying nothing was done; a
send is refused outright, because without the database the opt-out list cannot be checked.
(Webhooks never get here: they go to the outage spool.)"""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.core.errors import ServiceError

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


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    for error in (OSError, TimeoutError, DBAPIError):
        app.add_exception_handler(error, _database_unavailable)
