"""Test harness: every database test runs on SQLite and on PostgreSQL.

Each backend gets one fresh database per test run, made by the real migrations; tables are
emptied after every test. PostgreSQL is reached at TEST_POSTGRES_URL (default: the local server,
database `test`, trust auth); when it cannot be reached the PostgreSQL half is skipped, except
with CI=true, where that is a failure. TEST_BACKENDS=sqlite (or postgresql) runs one half only.
"""

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings
from app.core import migrate
from app.core.db import Base, create_engine
from app.main import create_app
from app.runtime import Runtime

pytest_plugins = ("tests.figures",)

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [b.strip() for b in os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",")]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
API_TOKEN = "test-api-token"
AUTH_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}
SPOOL_ROOT = Path(tempfile.mkdtemp(prefix="mobivate-hooks-test-spools-"))


async def _create_postgres_database() -> str:
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"mobivate_hooks_test_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except (OSError, Exception) as exc:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {exc!r}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    finally:
        await admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
async def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A database URL of one backend, migrated to head once for the whole run."""
    backend = request.param
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend in TEST_BACKENDS: {backend!r}")
    url = await _create_postgres_database()
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await _drop_postgres_database(url)


async def empty_all_tables(url: str) -> None:
    engine = create_async_engine(url)
    names = [table.name for table in reversed(Base.metadata.sorted_tables)]
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                joined = ", ".join(f'"{name}"' for name in names)
                await conn.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
            else:
                for name in names:
                    await conn.execute(text(f'DELETE FROM "{name}"'))
    finally:
        await engine.dispose()


@pytest.fixture
async def database_url(migrated_database: str) -> AsyncIterator[str]:
    yield migrated_database
    await empty_all_tables(migrated_database)


@pytest.fixture
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "webhook_secret": WEBHOOK_SECRET,
        "api_tokens": API_TOKEN,
        "log_level": "DEBUG",
        "environment": "development",
        "spool_dir": SPOOL_ROOT / uuid.uuid4().hex,
        "spool_drain_interval_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


class RunningApp:
    """The ASGI app with its lifespan running, and an HTTP client talking to it.

    The client sends the test API token, so REST API calls are authenticated by default.
    """

    def __init__(self, app: Any, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


async def start_app(
    settings: Settings, *, mobivate_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[RunningApp]:
    app = create_app(settings, mobivate_transport=mobivate_transport)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=AUTH_HEADERS
        ) as client:
            yield RunningApp(app, client)


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[RunningApp]:
    async for running in start_app(settings):
        yield running


@pytest.fixture
def client(running: RunningApp) -> httpx.AsyncClient:
    return running.client


async def count_rows(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        result = await conn.scalar(select(func.count()).select_from(model).where(*where))
    return int(result or 0)


DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA_DIR
