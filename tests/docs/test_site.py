"""The documentation site builds strictly and offline, its configuration reference lists every
setting with its default as a person would set it, and its pages name only commands that
exist."""

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import build_parser
from app.config import Settings
from tests.support.docs import DOCS, MKDOCS_CONFIG, render_settings_reference
from tests.support.paths import REPO

SETTINGS = {name.upper() for name in Settings.model_fields}


def _mkdocs() -> str | None:
    beside_python = Path(sys.executable).with_name("mkdocs")
    return str(beside_python) if beside_python.exists() else shutil.which("mkdocs")


def test_the_site_builds_strictly_offline_and_lists_every_setting(tmp_path: Path) -> None:
    mkdocs = _mkdocs()
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (scripts/install --dev installs it)")
    site = tmp_path / "site"
    result = subprocess.run(
        [mkdocs, "build", "--strict", "-f", str(MKDOCS_CONFIG), "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    page = (site / "configuration" / "index.html").read_text()
    assert [name for name in sorted(SETTINGS) if f"<code>{name}</code>" not in page] == []
    assert "settings-reference" not in page
    # Offline: nothing a page loads comes from another host.
    for html in site.rglob("*.html"):
        tags = re.findall(r"<(?:script|link|img)\b[^>]*>", html.read_text())
        remote = [tag for tag in tags if re.search(r'(?:src|href)="(?:https?:)?//', tag)]
        assert remote == [], f"{html.relative_to(site)} loads from another host"


def test_the_reference_shows_defaults_as_a_person_would_set_them() -> None:
    rows = dict(
        re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]*)` \|", render_settings_reference(), re.M)
    )
    assert rows["WEBHOOK_SECRET"] == "generated"
    assert rows["PUBLIC_BASE_URL"] == "unset"
    assert rows["ROOT_PATH"] == "empty"
    assert rows["MIGRATE_ON_START"] == "true"
    assert rows["INGEST_LINGER_MS"] == "0"
    assert rows["IDEMPOTENCY_POLL_SECONDS"] == "0.1"
    assert rows["RECONCILE_INTERVAL_MINUTES"] == "0 (off)"
    assert rows["SPOOL_DIR"] == "./data/spool"
    assert rows["OPTOUT_KEYWORDS"].split(",")[:2] == ["STOP", "STOPALL"]


def _commands() -> set[str]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(subparsers.choices)


@pytest.mark.parametrize(
    "path", sorted(str(page.relative_to(REPO)) for page in (DOCS / "pages").glob("*.md"))
)
def test_the_pages_name_only_commands_that_exist(path: str) -> None:
    text = (REPO / path).read_text()
    named = set(re.findall(r"(?:bin/|`|exec \S+ |-- )mobivate-hooks ([a-z][a-z-]+)", text))
    assert named <= _commands(), f"{path} names unknown commands: {named - _commands()}"
