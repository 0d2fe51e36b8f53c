"""The ops page at `/ui/`: plain HTML, CSS and JavaScript shipped in this package (no CDN, no
build step, no charting library: the funnel is drawn as SVG by the page itself). `/` leads to it.

The page holds no secret of its own: the operator signs in with an API token, which the browser
keeps in sessionStorage (gone when the tab closes) and sends as a bearer token to the same REST
API everyone uses; the live feed opens with a stream ticket. Every file is served with a
Content-Security-Policy that allows this origin only, so the page can load nothing from
elsewhere and cannot be framed.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
UI_PATH = "/ui"

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class _WithHeaders:
    """The static files, each answer with the page's security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return RedirectResponse(f"{root}{UI_PATH}/", status_code=307)


def install_ui(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(UI_PATH, _WithHeaders(StaticFiles(directory=STATIC, html=True)), name="ui")
