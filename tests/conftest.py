"""Fixtures. Every database test runs on SQLite and on PostgreSQL (tests/support/databases.py):
each backend gets one fresh database per test run, made by the real migrations; tables are
emptied after every test. Before they are, the standing audit runs: a test that left a message
sent to an opted-out person fails, unless it is marked `sends_after_optout` (it does so on
purpose)."""

import asyncio
import io
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core import migrate
from app.core.db import create_engine
from app.core.logs import configure_logging
from tests.support.app import RunningApp, make_settings, start_app
from tests.support.audit import assert_no_sends_after_optout
from tests.support.databases import (
    BACKENDS,
    create_postgres_database,
    drop_postgres_database,
    empty_all_tables,
)
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.paths import DATA_DIR
from tests.support.postgres import PgCluster, throwaway_postgres

pytest_plugins = ("tests.support.figures", "tests.support.browser")


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
    url = await create_postgres_database()
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def database_url(
    migrated_database: str, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    yield migrated_database
    try:
        if request.node.get_closest_marker("sends_after_optout") is None:
            await assert_no_sends_after_optout(migrated_database)
    finally:
        await empty_all_tables(migrated_database)


@pytest.fixture
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[RunningApp]:
    async with start_app(settings) as running:
        yield running


@pytest.fixture
def client(running: RunningApp) -> httpx.AsyncClient:
    return running.client


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    """The app wired to the fake Mobivate in both directions."""
    async with start_harness(sending_settings(database_url)) as harness:
        yield harness


@pytest.fixture
async def cluster() -> AsyncIterator[PgCluster]:
    """A throwaway PostgreSQL cluster, migrated, that the test may stop and start."""
    async with throwaway_postgres() as pg:
        await pg.migrate()
        yield pg


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests keep their screenshots: under pytest's tmp path (the run prints it);
    SCREENSHOT_DIR=docs/images refreshes the documentation's pictures instead."""
    chosen = os.environ.get("SCREENSHOT_DIR")
    return Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture
def app_logs() -> Iterator[io.StringIO]:
    """What the service's own log handler (JSON, DEBUG) writes, every logger included."""
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    configure_logging("DEBUG", "json")
    written = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    yield written
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)
