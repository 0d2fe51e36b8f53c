"""The ops page's files ship in the package (pyproject's package-data covers each) and name no
other host: no CDN, no web font, nothing fetched from elsewhere."""

import fnmatch
import re
import tomllib

from app.ui.pages import STATIC
from tests.support.paths import REPO


def test_every_static_file_is_package_data() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["app"]
    files = [
        path.relative_to(REPO / "app").as_posix() for path in STATIC.rglob("*") if path.is_file()
    ]
    assert {"ui/static/index.html", "ui/static/app.js", "ui/static/style.css"} <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


def test_the_page_names_no_other_host() -> None:
    for path in STATIC.rglob("*"):
        text = path.read_text()
        hosts = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text)
        assert hosts == ["http://www.w3.org"] * len(hosts), (path.name, hosts)  # SVG namespace
