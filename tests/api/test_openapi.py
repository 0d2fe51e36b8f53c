"""/openapi.json is a valid OpenAPI document that describes every endpoint, with examples and
error bodies, and is served correctly under ROOT_PATH."""

from typing import Any

from openapi_spec_validator import validate

from app.feed import api as stream
from app.optouts import api as optouts
from app.registration import api as registrations
from app.sending import api as sending
from app.stats import api as stats
from app.webhooks import api as events
from tests.support.app import RunningApp, make_settings, start_app

API_ROUTERS = (registrations, optouts, sending, events, stream, stats)
READ_API = {
    "/api/v1/messages",
    "/api/v1/batches",
    "/api/v1/receipts",
    "/api/v1/incoming",
    "/api/v1/clicks",
    "/api/v1/stats",
    "/api/v1/events/stream",
}


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


async def test_the_document_is_valid_and_lists_every_route(running: RunningApp) -> None:
    response = await running.client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    documented = operations(schema)
    for module in API_ROUTERS:
        for route in module.router.routes:
            for method in route.methods - {"HEAD"}:
                assert (method, "/api/v1" + route.path) in documented
    for path in ("/healthz", "/readyz", "/webhooks/{secret}/receipt"):
        assert any(p == path for _, p in documented), path


async def test_every_api_operation_documents_auth_and_its_errors(running: RunningApp) -> None:
    schema = (await running.client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for (method, path), operation in operations(schema).items():
        if not path.startswith("/api/v1"):
            continue
        assert "401" in operation["responses"], (method, path)
        example = operation["responses"]["401"]["content"]["application/json"]["example"]
        assert example["detail"]
        assert operation.get("security"), (method, path)
    for path in READ_API:
        operation = schema["paths"][path]["get"]
        assert operation["summary"]
        assert operation["description"]
        assert "422" in operation["responses"]
        assert operation["responses"]["422"]["content"]["application/json"]["example"]
    receipts = schema["paths"]["/api/v1/receipts"]["get"]["responses"]["200"]["content"]
    assert set(receipts) == {"application/json", "text/csv"}
    item = schema["components"]["schemas"]["ReceiptItem"]
    assert item["examples"][0]["status"] == "DELIVERED"
    stream_200 = schema["paths"]["/api/v1/events/stream"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream_200["content"]


async def test_served_under_root_path(database_url: str) -> None:
    async with start_app(make_settings(database_url, root_path="/dash")) as running:
        schema = (await running.client.get("/dash/openapi.json")).json()
        assert schema["servers"] == [{"url": "/dash"}]
        validate(schema)
        docs = await running.client.get("/dash/docs")
        assert "/dash/openapi.json" in docs.text
        listed = await running.client.get("/dash/api/v1/receipts")
        assert listed.status_code == 200
        assert listed.json() == {"items": [], "next_cursor": None}
