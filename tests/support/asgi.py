"""ASGI apps standing between the fake Mobivate's callbacks and the app."""

from starlette.types import ASGIApp, Receive, Scope, Send


class Forward:
    """Forwards to an app set later: the fake's callbacks reach an app created after the
    fake."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None, "no app to forward to yet"
        await self.target(scope, receive, send)


class ReverseProxy(Forward):
    """Serves the app under /sms, as a reverse proxy would for PUBLIC_BASE_URL=https://host/sms."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = "/sms"
        if scope["type"] == "http" and scope["path"].startswith(prefix + "/"):
            scope = {**scope, "path": scope["path"][len(prefix) :]}
            scope.pop("raw_path", None)
        await super().__call__(scope, receive, send)
