"""`/docs` and `/redoc` render from the service alone (their assets come from the installed
package, under ROOT_PATH), and /openapi.json names every operation readably, with a summary, a
tag and an example of every body, so a client generated from it reads well."""

import asyncio
import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any

from tests.support.app import RunningApp, make_settings, start_app

_SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = document["components"]["schemas"][ref.split("/")[-1]]
    return found


def _has_example(media: dict[str, Any], document: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(media.get("schema", {}), document)
    return "examples" in schema or "example" in schema


async def test_every_operation_has_a_readable_id_a_summary_a_tag_and_examples(
    running: RunningApp,
) -> None:
    document = (await running.client.get("/openapi.json")).json()
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            operation_id = operation["operationId"]
            ids.append(operation_id)
            assert _SNAKE.fullmatch(operation_id), where
            assert "api_v1" not in operation_id, where
            assert len(operation_id) <= 30, where
            generated = operation_id.replace("_", " ").title()
            assert operation.get("summary"), where
            assert operation["summary"] != generated, where
            assert operation.get("tags"), where
            bodies = [*operation.get("requestBody", {}).get("content", {}).values()]
            for response in operation["responses"].values():
                bodies += [
                    media
                    for media_type, media in response.get("content", {}).items()
                    if media_type == "application/json"
                ]
            for media in bodies:
                assert _has_example(media, document), (where, media)
    assert len(ids) == len(set(ids))


async def test_examples_use_a_uk_mobile_number_and_mobivate_ids(running: RunningApp) -> None:
    text = (await running.client.get("/openapi.json")).text
    assert '"to":"+447700900123"' in text.replace(" ", "")
    assert "9A85B95E0A000A9D2FBD46710388AD54" in text
    assert '"string"' not in re.sub(r'"type":\s*"string"', "", text)


async def test_swagger_ui_and_redoc_load_only_assets_the_service_serves(
    database_url: str,
) -> None:
    async with start_app(make_settings(database_url, root_path="/sms")) as running:
        client = running.client
        for page in ("/sms/docs", "/sms/redoc"):
            response = await client.get(page)
            assert response.status_code == 200, page
            html = response.text
            urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
            assert urls, page
            for url in urls:
                assert url.startswith("/sms/"), (page, url)
                assert (await client.get(url)).status_code == 200, url
            assert "cdn" not in html.lower(), page
            assert "googleapis" not in html, page


async def test_a_generated_python_client_has_readable_names_and_imports(
    running: RunningApp, tmp_path: Path
) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_bytes((await running.client.get("/openapi.json")).content)
    tools = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = await asyncio.create_subprocess_exec(
        str(tools / "openapi-python-client"),
        "generate",
        "--path",
        str(spec),
        "--output-path",
        str(tmp_path / "mobivate_hooks_client"),
        "--meta",
        "none",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    output = (await process.communicate())[0].decode()
    assert process.returncode == 0, output
    assert "Warning" not in output, output
    modules = {
        f"{p.parent.name}.{p.stem}"
        for p in (tmp_path / "mobivate_hooks_client" / "api").glob("*/*.py")
        if p.stem != "__init__"
    }
    for expected in (
        "sending.send_message",
        "sending.send_batch",
        "sending.get_batch",
        "opt_outs.get_optout",
        "opt_outs.opt_out",
        "statistics.get_stats",
        "live_feed.create_stream_ticket",
    ):
        assert expected in modules
    assert all(len(name) <= 40 and "api_v1" not in name for name in modules), modules
    sys.path.insert(0, str(tmp_path))
    try:
        send = importlib.import_module("mobivate_hooks_client.api.sending.send_message")
        models = importlib.import_module("mobivate_hooks_client.models")
        client_module = importlib.import_module("mobivate_hooks_client")
        body = models.SendMessageRequest(to="+447700900123", text="Hello")
        assert body.to_dict()["to"] == "+447700900123"
        client = client_module.AuthenticatedClient(base_url="http://testserver", token="t")
        assert callable(send.sync_detailed)
        assert client.token == "t"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("mobivate_hooks_client")]:
            del sys.modules[name]
