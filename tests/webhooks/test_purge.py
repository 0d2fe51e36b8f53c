"""Retention purge; the commands the image, compose and README name all exist; every setting is
documented and can be set through compose."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.main import build_parser
from app.config import Settings
from app.core.tables import IncomingMessage, Optout, OptoutEvent, Receipt, WebhookRequest
from app.webhooks.purge import purge_before
from tests.conftest import WEBHOOK_SECRET, count_rows
from tests.ops.test_probes import _cli

REPO = Path(__file__).resolve().parents[2]


async def test_purge_deletes_old_bodies_and_events_and_keeps_optout_history(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for index in range(3):
        payload = {"id": f"OLD{index}", "originator": "447700900123", "body": "STOP"}
        response = await client.post(f"/webhooks/{WEBHOOK_SECRET}/incoming", json=payload)
        assert response.status_code == 200
    long_ago = datetime.now(UTC) - timedelta(days=100)
    async with engine.begin() as conn:
        for model in (WebhookRequest, IncomingMessage):
            await conn.execute(update(model).values(received_at=long_ago))
    receipt = {"deliveryMessageId": "NEW1", "status": "DELIVERED", "statusCode": 1}
    await client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt)

    deleted = await purge_before(engine, datetime.now(UTC) - timedelta(days=90), chunk=2)

    assert deleted == {"receipts": 0, "incoming_messages": 3, "clicks": 0, "webhook_requests": 3}
    assert await count_rows(engine, IncomingMessage) == 0
    assert await count_rows(engine, WebhookRequest) == 1
    assert await count_rows(engine, Receipt) == 1
    assert await count_rows(engine, Optout) == 1
    assert await count_rows(engine, OptoutEvent) == 3


async def test_purge_command_reports_counts_and_refuses_a_bad_period(
    database_url: str, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(WebhookRequest).values(
                id=uuid.uuid4(),
                kind="click",
                received_at=datetime.now(UTC) - timedelta(days=10),
                content_type="application/json",
                client_addr=None,
                body=b"{}",
                body_size=2,
                truncated=False,
                outcome="unparsed",
                error="x",
                event_count=0,
            )
        )
    code, out, _ = await _cli(database_url, "purge", "--older-than", "7d")
    assert code == 0
    assert "webhook_requests: 1" in out
    code, _, err = await _cli(database_url, "purge", "--older-than", "soon")
    assert code == 2
    assert "is not a duration" in err


def _commands() -> set[str]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(subparsers.choices)  # type: ignore[attr-defined]


# How each file names a command: exec-form arrays in the image and compose files, shell
# commands and inline code in the README.
COMMAND_PATTERNS = {
    "Dockerfile": r'"mobivate-hooks",\s*"([a-z-]+)"',
    "docker-compose.yml": r'"mobivate-hooks",\s*"([a-z-]+)"',
    "README.md": r"(?:bin/|`|exec \S+ )mobivate-hooks ([a-z][a-z-]+)",
}


@pytest.mark.parametrize("path", sorted(COMMAND_PATTERNS))
def test_files_name_only_commands_that_exist(path: str) -> None:
    named = set(re.findall(COMMAND_PATTERNS[path], (REPO / path).read_text()))
    assert named, f"{path} names no mobivate-hooks command"
    assert named <= _commands(), f"{path} names unknown commands: {named - _commands()}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    [command] = re.findall(r"# run the tests[^\n]*\n(.+)\n", readme)
    assert command in (REPO / ".ci/run").read_text().splitlines()


def _settings() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Configuration\n")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", section, re.MULTILINE))
    assert documented == _settings()


def test_compose_passes_every_setting_to_the_app() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    environment = compose["services"]["app"]["environment"]
    assert set(environment) == _settings()
    assert set(compose["services"]["migrate"]["environment"]) <= _settings()
