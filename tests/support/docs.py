"""The documentation site's pieces the tests read: the mkdocs hook that generates the
configuration reference, the site's configuration and the deployment files it shows."""

import importlib.util
from pathlib import Path
from types import ModuleType

from tests.support.paths import REPO

DOCS = REPO / "docs"
MKDOCS_CONFIG = DOCS / "mkdocs.yml"
KUBERNETES = DOCS / "deploy" / "kubernetes"


def settings_reference_hook() -> ModuleType:
    """docs/hooks/settings_reference.py, loaded as mkdocs loads it (it is no package)."""
    path: Path = DOCS / "hooks" / "settings_reference.py"
    spec = importlib.util.spec_from_file_location("settings_reference", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_settings_reference() -> str:
    """The Markdown the hook puts on the configuration page."""
    rendered = settings_reference_hook().render_reference()
    assert isinstance(rendered, str)
    return rendered
