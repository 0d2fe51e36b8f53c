"""What the service shows to anyone who reaches it: the API description as API_DOCS says, and a
/readyz that asks the database at most once a second however often it is called."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.app import API_TOKEN, client_from, make_settings, start_app

DOC_PATHS = ("/openapi.json", "/docs", "/redoc")


@pytest.mark.parametrize(
    ("mode", "anonymous", "with_token"),
    [("public", 200, 200), ("token", 401, 200), ("off", 404, 404)],
)
async def test_the_api_description_is_public_behind_the_token_or_off(
    database_url: str, mode: str, anonymous: int, with_token: int
) -> None:
    settings = make_settings(database_url, api_docs=mode)
    async with start_app(settings) as running:
        async with client_from(running.app, "198.51.100.4") as stranger:
            answers = [(await stranger.get(path)).status_code for path in DOC_PATHS]
        assert answers == [anonymous] * 3
        async with client_from(
            running.app, "198.51.100.4", Authorization=f"Bearer {API_TOKEN}"
        ) as holder:
            answers = [(await holder.get(path)).status_code for path in DOC_PATHS]
            assert answers == [with_token] * 3
            if with_token == 200:
                schema = (await holder.get("/openapi.json")).json()
                assert "/api/v1/messages" in schema["paths"]
        # The API itself is unchanged.
        assert (await running.client.get("/api/v1/receipts")).status_code == 200


async def test_readyz_asks_the_database_at_most_once_a_second(database_url: str) -> None:
    async with start_app(make_settings(database_url)) as running:
        asked: list[str] = []

        def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "alembic_version" in statement:
                asked.append(statement)

        event.listen(running.runtime.engine.sync_engine, "before_cursor_execute", note)
        try:
            async with client_from(running.app, "198.51.100.5") as prober:
                await prober.get("/readyz")  # a fresh answer
                first = len(asked)
                burst = await asyncio.gather(*(prober.get("/readyz") for _ in range(50)))
                assert {answer.status_code for answer in burst} == {200}
                assert {answer.json()["status"] for answer in burst} == {"ready"}
                assert len(asked) - first <= 1
                await asyncio.sleep(1.1)
                later = await prober.get("/readyz")
                assert later.json()["checks"] == {"database": "ok", "schema": "ok"}
                assert len(asked) - first >= 1
        finally:
            event.remove(running.runtime.engine.sync_engine, "before_cursor_execute", note)
        assert first >= 1
