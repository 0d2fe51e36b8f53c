"""Configuration: every mistake is one clear line, empty variables mean the defaults, and every
setting is documented (the configuration reference the site generates) and passed on by
compose."""

import os
import re
from pathlib import Path

import pytest
import yaml

from app.config import Settings
from tests.support.cli import run_cli
from tests.support.docs import render_settings_reference
from tests.support.paths import REPO


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "not a url", "DATABASE_URL: is not a database URL"),
        ("DATABASE_URL", "", "DATABASE_URL: is not a database URL"),
        ("MOBIVATE_BASE_URL", "", "MOBIVATE_BASE_URL: must be an absolute http(s) URL"),
        ("DATABASE_URL", "mysql://h/db", "driver 'mysql' is not supported"),
        ("WEBHOOK_SECRET", "changeme", "WEBHOOK_SECRET looks like a placeholder"),
        ("PUBLIC_BASE_URL", "http://sms.example.com", "PUBLIC_BASE_URL must use https://"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL:"),
    ],
)
async def test_configuration_errors_are_one_clear_line_each(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    env = {key: val for key, val in os.environ.items() if key not in {"DATABASE_URL"}}
    env.update({"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db", variable: value})
    code, _, err = await run_cli(env, "migrate")
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_empty_variables_mean_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As compose passes `${VAR:-}` for a variable the operator left unset."""
    monkeypatch.chdir(tmp_path)  # no .env file
    meaningful_when_empty = {"DATABASE_URL", "MOBIVATE_BASE_URL", "FORWARDED_ALLOW_IPS"}
    for name in {name.upper() for name in Settings.model_fields} - meaningful_when_empty:
        monkeypatch.setenv(name, "")

    settings = Settings()

    assert settings == Settings.model_construct()


def _settings() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_every_setting_has_a_description() -> None:
    fields = Settings.model_fields
    assert [name for name, field in fields.items() if not (field.description or "").strip()] == []


def test_every_setting_is_in_the_generated_configuration_reference() -> None:
    reference = render_settings_reference()
    documented = re.findall(r"^\| `([A-Z0-9_]+)` \| `[^`]+` \| \S", reference, re.MULTILINE)
    assert sorted(documented) == sorted(_settings())


def test_compose_passes_every_setting_to_the_app() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    environment = compose["services"]["app"]["environment"]
    assert set(environment) == _settings()
    assert set(compose["services"]["migrate"]["environment"]) <= _settings()
