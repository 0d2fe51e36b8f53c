"""Bounded waiting for something that happens in the background."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    within: float = 15.0,
    what: str = "the condition",
    interval: float = 0.01,
) -> T:
    """What `check()` returns once it returns something truthy, asked every `interval` seconds;
    fails the test when `within` seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s (last: {result!r})")
        await asyncio.sleep(interval)
