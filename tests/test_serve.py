"""`mobivate-hooks serve` for real: migrations on start, uvicorn on loopback, a webhook stored."""

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

SECRET = "serve-test-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_ready(base_url: str) -> httpx.Response:
    async with asyncio.timeout(30), httpx.AsyncClient(base_url=base_url) as client:
        while True:
            try:
                response = await client.get("/readyz")
                if response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/served.db",
        "WEBHOOK_SECRET": SECRET,
        "LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_ready(base_url)
        yield base_url
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        # uvicorn finishes in-flight requests and the lifespan, then re-raises SIGTERM.
        assert process.returncode in (0, -15)
        assert b"Application shutdown complete" in stderr


async def test_serve_migrates_then_stores_webhooks_over_http(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        response = await client.post(
            f"/webhooks/{SECRET}/receipt",
            json={"deliveryMessageId": "9A85B95E", "status": "DELIVERED", "statusCode": 1},
        )
        assert response.status_code == 200
        assert response.json() == {"status": "stored"}
        again = await client.post(
            f"/webhooks/{SECRET}/receipt",
            json={"deliveryMessageId": "9A85B95E", "status": "DELIVERED", "statusCode": 1},
        )
        assert again.json() == {"status": "duplicate"}


async def test_openapi_describes_webhooks_and_probes(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        schema = (await client.get("/openapi.json")).json()
    for kind in ("receipt", "incoming", "click"):
        operation = schema["paths"][f"/webhooks/{{secret}}/{kind}"]["post"]
        assert {"200", "400", "404", "413", "415", "422"} <= set(operation["responses"])
    assert "/healthz" in schema["paths"]
    assert "/readyz" in schema["paths"]
