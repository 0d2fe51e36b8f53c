"""The fake's contacts proxy (API reference §10.1): `GET /api/contacts/create|delete` with the
account's username and password in the query string instead of an API key.

Answers as documented: `{"status": "ok", "<application>": "ok"}` per application (the generic
opt-out list with the `call`/`calls` token answers under `optouts:robocall`, as Mobivate's
example shows), `{"code": 401, "message": "Not Authenticated"}` for wrong credentials, and
Mobivate-style 400s for a missing or malformed parameter."""

import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.fake_mobivate.rules import Rejection, check_mobile

if TYPE_CHECKING:
    from app.fake_mobivate.core import FakeMobivate

CONTACTS_PREFIX = "/api/contacts/"
_OPTOUT_TOKENS = {"sms": "optouts:sms", "call": "optouts:robocall", "calls": "optouts:robocall"}
_PLAIN_APPLICATIONS = ("appointments",)
_APPLICATIONS_WITH_ID = ("recurring", "contacts", "callcentre")


class ContactsProxy:
    def __init__(self, fake: "FakeMobivate") -> None:
        self.fake = fake

    def routes(self) -> list[Route]:
        return [
            Route(f"{CONTACTS_PREFIX}create", self.create, methods=["GET"]),
            Route(f"{CONTACTS_PREFIX}delete", self.delete, methods=["GET"]),
        ]

    async def create(self, request: Request) -> JSONResponse:
        msisdn, applications = self._checked(request)
        self.fake.contacts.setdefault(msisdn, set()).update(applications)
        return JSONResponse({"status": "ok", **dict.fromkeys(applications.values(), "ok")})

    async def delete(self, request: Request) -> JSONResponse:
        msisdn, applications = self._checked(request)
        held = self.fake.contacts.get(msisdn, set())
        held.difference_update(applications)
        if not held:
            self.fake.contacts.pop(msisdn, None)
        return JSONResponse({"status": "ok", **dict.fromkeys(applications.values(), "ok")})

    def _checked(self, request: Request) -> tuple[str, dict[str, str]]:
        """The number and the applications (as sent -> answer key); raises Rejection."""
        query = request.query_params
        if not (
            _same(query.get("username", ""), self.fake.contacts_username)
            and _same(query.get("password", ""), self.fake.contacts_password)
        ):
            raise Rejection(401, "Not Authenticated")
        for name in ("msisdn", "applications"):
            if not query.get(name):
                raise Rejection(400, f"Missing required parameter: {name}")
        msisdn = check_mobile(query["msisdn"])
        applications: dict[str, str] = {}
        for entry in query["applications"].split(","):
            app, _, token = entry.strip().partition(":")
            if app == "optouts" and token in _OPTOUT_TOKENS:
                applications[entry.strip()] = _OPTOUT_TOKENS[token]
            elif (app in _PLAIN_APPLICATIONS and not token) or (
                app in _APPLICATIONS_WITH_ID and token.isdigit()
            ):
                applications[entry.strip()] = entry.strip()
            else:
                raise Rejection(400, f"Unknown application: {entry.strip()[:40]}")
        return msisdn, applications


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
