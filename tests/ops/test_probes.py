"""The liveness and readiness probes, on both backends."""

import httpx

from tests.support.app import make_settings, start_app


async def test_healthz_answers_without_io(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_and_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == "ok"


async def test_readyz_is_503_when_schema_is_behind(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/unmigrated.db"
    settings = make_settings(url)
    # An unmigrated database: the lifespan cannot even keep the secret, so give one.
    async with start_app(settings) as running:
        response = await running.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["schema"].startswith("at []")
