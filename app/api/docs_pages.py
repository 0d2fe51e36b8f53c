"""`/docs` (Swagger UI) and `/redoc` (ReDoc) that render without the internet.

Their scripts, styles and icon come from the installed `fastapi-offline` package (MIT; it ships
the Swagger UI and ReDoc bundles) and are served by the service itself under `/docs-assets`, so
the pages render behind a proxy with no way out, and under ROOT_PATH. Nothing else is fetched:
ReDoc's web fonts and Swagger UI's online validator badge are turned off, and both pages carry
a Content-Security-Policy that lets them load from this service only (ReDoc's footer would
otherwise fetch its vendor's logo from the vendor's CDN; it is hidden too).

The pages and `/openapi.json` answer as API_DOCS says: `public` (the default), `token` (the
bearer token, as the API; for generated clients and curl, since a browser cannot send it), or
`off` (404).
"""

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from app.api.deps import DocsAccess

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PATH = "/docs-assets"

router = APIRouter(include_in_schema=False, dependencies=[DocsAccess])

# Swagger UI starts from an inline script; ReDoc styles inline and searches in a blob: worker.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HIDE_VENDOR_LINK = '<style>a[href^="https://redocly.com"] { display: none; }</style>'


def _page(response: HTMLResponse, extra_head: str = "") -> HTMLResponse:
    body = bytes(response.body).decode()
    if extra_head:
        body = body.replace("</head>", f"{extra_head}</head>", 1)
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP})


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/openapi.json")
async def openapi_document(request: Request) -> JSONResponse:
    schema = request.app.openapi()
    prefix = _prefix(request)
    return JSONResponse({**schema, "servers": [{"url": prefix}]} if prefix else schema)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    prefix = _prefix(request)
    page = get_swagger_ui_html(
        openapi_url=f"{prefix}/openapi.json",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{prefix}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{prefix}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{prefix}{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
    )
    return _page(page)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    prefix = _prefix(request)
    page = get_redoc_html(
        openapi_url=f"{prefix}/openapi.json",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{prefix}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{prefix}{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )
    return _page(page, _HIDE_VENDOR_LINK)


def install_docs_pages(app: FastAPI) -> None:
    """The document, the two pages and their assets; the app must be made with
    openapi_url=docs_url=redoc_url=None."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
