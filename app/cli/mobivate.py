"""The Mobivate commands of `mobivate-hooks`: register-webhooks, check-mobivate, fake-mobivate.

Exit codes (`app.cli.exits`): 0 done; 1 Mobivate refused (its message is printed); 2 a setting is
missing; 3 Mobivate could not be reached; 4 the database could not be used (register-webhooks).
"""

import argparse
import asyncio
import sys
from typing import Any, TextIO

import httpx

from app.cli.arguments import port_number
from app.cli.exits import ExitCode
from app.cli.runtime import cli_runtime
from app.config import Settings
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateRefused, MobivateUnavailable
from app.registration.attempt import register_now
from app.registration.status import account_fingerprint, mask_webhook_url
from app.runtime import mobivate_client, mobivate_http_client
from app.webhooks.secret import webhook_urls


def _client(settings: Settings, http: httpx.AsyncClient) -> MobivateClient:
    """Retries an unreachable Mobivate a few times, waiting as the background registration does."""
    client = mobivate_client(
        settings,
        http,
        retry_wait_seconds=settings.registration_backoff_initial_seconds,
        retry_max_wait_seconds=settings.registration_backoff_max_seconds,
    )
    assert client is not None
    return client


def _missing(settings: Settings, *, need_public_url: bool) -> list[str]:
    missing = [] if settings.mobivate_api_key else ["MOBIVATE_API_KEY"]
    if need_public_url and not settings.public_base_url:
        missing.append("PUBLIC_BASE_URL")
    return missing


async def register_webhooks(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    missing = _missing(settings, need_public_url=True)
    if missing:
        print(f"cannot register webhooks: set {' and '.join(missing)}", file=err)
        return ExitCode.BAD_INPUT
    assert settings.public_base_url is not None
    async with cli_runtime(settings, transport=transport) as runtime:
        targets = webhook_urls(settings.public_base_url, runtime.webhook_secret)
        account = account_fingerprint(settings)
        assert account is not None
        client = _client(settings, runtime.http)
        outcomes = await register_now(runtime.engine, client, targets, account)
    for outcome in outcomes:
        code = f"HTTP {outcome.status_code}: " if outcome.status_code else ""
        print(
            f"{outcome.kind.value:<9} {outcome.state:<12} {mask_webhook_url(outcome.url)}"
            f"  (Mobivate: {code}{outcome.message})",
            file=out,
        )
    refused = [o for o in outcomes if isinstance(o.error, MobivateRefused)]
    if refused:
        first = refused[0]
        print(
            f"Mobivate refused the {first.kind.value} webhook: HTTP {first.status_code}: "
            f"{first.message}",
            file=err,
        )
        return ExitCode.FAILED
    unreachable = [o for o in outcomes if o.error is not None]
    if unreachable:
        print(f"Mobivate could not be reached: {unreachable[0].message}", file=err)
        return ExitCode.UNREACHABLE
    return ExitCode.OK


async def check_mobivate(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    if _missing(settings, need_public_url=False):
        print("cannot check the API key: set MOBIVATE_API_KEY", file=err)
        return ExitCode.BAD_INPUT
    async with mobivate_http_client(settings, transport) as http:
        try:
            await _client(settings, http).test_api_key()
        except MobivateRefused as exc:
            print(f"Mobivate refused the API key: HTTP {exc.status_code}: {exc.message}", file=err)
            return ExitCode.FAILED
        except MobivateUnavailable as exc:
            print(f"Mobivate could not be reached: {exc}", file=err)
            return ExitCode.UNREACHABLE
    print(f"Mobivate at {settings.mobivate_base_url} accepted the API key", file=out)
    return ExitCode.OK


def cmd_register_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(register_webhooks(settings))


def cmd_check_mobivate(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(check_mobivate(settings))


def cmd_fake_mobivate(args: argparse.Namespace, settings: Settings) -> int:
    from app.fake_mobivate import run_fake_mobivate

    configured = settings.mobivate_api_key
    api_key = args.api_key or (configured.get_secret_value() if configured else "test-key")
    print(
        f"fake Mobivate on http://{args.host}:{args.port} (set MOBIVATE_BASE_URL to it); "
        "it accepts the key from --api-key, else MOBIVATE_API_KEY, else 'test-key'",
        file=sys.stderr,
    )
    run_fake_mobivate(args.host, args.port, api_key, args.auto_receipts)
    return ExitCode.OK


def add_mobivate_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    register = commands.add_parser(
        "register-webhooks",
        help="register the three webhook URLs with Mobivate now (exit 1 refused, "
        "2 setting missing, 3 unreachable, 4 database error)",
        description="Registers the receipt, incoming and click URLs under PUBLIC_BASE_URL with "
        "Mobivate now, even when a recent registration is on record, and records each outcome "
        "(GET /api/v1/registrations). Needs MOBIVATE_API_KEY and PUBLIC_BASE_URL. Exit 0 all "
        "registered, 1 Mobivate refused one (its message is printed), 2 a setting is missing, "
        "3 Mobivate could not be reached, 4 database error.",
    )
    register.set_defaults(handler=cmd_register_webhooks)

    check = commands.add_parser(
        "check-mobivate",
        help="test MOBIVATE_API_KEY against Mobivate (exit 1 refused, 2 unset, 3 unreachable)",
        description="Asks Mobivate at MOBIVATE_BASE_URL whether it accepts MOBIVATE_API_KEY; "
        "sends nothing. Exit 0 accepted, 1 refused, 2 MOBIVATE_API_KEY unset, 3 unreachable.",
    )
    check.set_defaults(handler=cmd_check_mobivate)

    fake = commands.add_parser(
        "fake-mobivate",
        help="serve a fake Mobivate API locally, for trying the whole flow",
        description="Serves a stand-in for Mobivate's API that validates requests as Mobivate "
        "documents them, records them (GET /_fake/requests) and, with --auto-receipts, posts "
        "receipts to the registered webhook URLs. Never contacts the real Mobivate. Its /_fake "
        "endpoints are unauthenticated: bind it to loopback. Exit 0 after a clean stop, "
        "3 if the address cannot be bound.",
    )
    fake.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    fake.add_argument("--port", type=port_number, default=8900, help="port to bind (default 8900)")
    fake.add_argument(
        "--api-key", default=None, help="key to accept (default MOBIVATE_API_KEY, else test-key)"
    )
    fake.add_argument(
        "--auto-receipts",
        action="store_true",
        help="send ACCEPTED then DELIVERED receipts for every message sent",
    )
    fake.set_defaults(handler=cmd_fake_mobivate)
