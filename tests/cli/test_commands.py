"""The commands: the ones the image, compose and README name all exist, and the basic ones
work against a database of each backend."""

import argparse
import re

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.main import build_parser
from app.core.tables import ServiceSetting
from tests.support.cli import run_command
from tests.support.paths import REPO


async def test_cli_webhook_urls_prints_the_urls_with_the_generated_secret(
    database_url: str, engine: AsyncEngine
) -> None:
    code, out, _ = await run_command(database_url, "webhook-urls")
    assert code == 0
    async with engine.connect() as conn:
        secret = await conn.scalar(select(ServiceSetting.value))
    assert secret
    for kind in ("receipt", "incoming", "click"):
        assert f"https://sms.example/x/webhooks/{secret}/{kind}" in out


async def test_cli_reprocess_reports_counts(database_url: str) -> None:
    code, out, _ = await run_command(database_url, "reprocess")
    assert code == 0
    assert "examined 0" in out


async def test_cli_without_command_fails_with_usage(database_url: str) -> None:
    code, _, err = await run_command(database_url)
    assert code == 2
    assert "usage: mobivate-hooks" in err


def _commands() -> set[str]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(subparsers.choices)


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
