"""The runtime opens its parts in order and, when one fails to start, stops those already
started: no background loop outlives a failed start."""

import asyncio
from pathlib import Path

import pytest

from app.runtime import open_runtime
from tests.support.app import make_settings

WORKERS = {"ingest-writer-0", "outbox", "feed-watcher", "stats-rollup", "spool-drain"}


def running_workers() -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks() if not task.done()} & WORKERS


async def test_a_part_that_fails_to_start_stops_the_parts_started_before_it(
    database_url: str, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("the outage spool cannot live under a file")
    settings = make_settings(database_url, spool_dir=blocked / "spool")
    with pytest.raises(NotADirectoryError):
        async with open_runtime(settings, serving=True):
            pass
    assert running_workers() == set()


async def test_a_serving_runtime_starts_its_workers_and_stops_them_all(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, spool_dir=tmp_path)
    async with open_runtime(settings, serving=True) as runtime:
        started = running_workers()
        assert runtime.webhooks is not None
    assert {"ingest-writer-0", "feed-watcher", "spool-drain"} <= started
    assert running_workers() == set()


async def test_a_command_runtime_runs_no_background_loop_but_the_writer(
    database_url: str,
) -> None:
    async with open_runtime(make_settings(database_url)) as runtime:
        assert running_workers() == {"ingest-writer-0"}
        assert runtime.webhooks is None
        assert runtime.registration is None
    assert running_workers() == set()
