"""The ops page's files ship in the package (pyproject's package-data covers each), name no
other host (no CDN, no web font, nothing fetched from elsewhere), and are served under
ROOT_PATH with a Content-Security-Policy that keeps them to this origin."""

import fnmatch
import re
import tomllib

from app.ui.pages import STATIC
from tests.support.app import make_settings, start_app
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


async def test_the_page_is_served_under_root_path_with_its_policy(database_url: str) -> None:
    async with start_app(make_settings(database_url, root_path="/sms")) as running:
        client = running.client
        home = await client.get("/sms/", follow_redirects=False)
        assert home.status_code == 307
        assert home.headers["location"] == "/sms/ui/"
        bare = await client.get("/sms/ui", follow_redirects=False)
        assert bare.status_code in (307, 308)
        assert bare.headers["location"].endswith("/sms/ui/")
        page = await client.get("/sms/ui/", headers={})
        assert page.status_code == 200
        assert "Sign in" in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "connect-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        script = await client.get("/sms/ui/app.js")
        assert script.status_code == 200
        assert "sessionStorage" in script.text
        assert "localStorage" not in script.text
        assert (await client.get("/sms/ui/missing.js")).status_code == 404
