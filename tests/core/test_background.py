"""Background tasks stop even when a cancellation is turned into an ordinary error."""

import asyncio

from app.core.background import cancel_and_wait


async def test_a_loop_that_swallows_one_cancellation_still_stops() -> None:
    rounds = 0

    async def resilient_loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            try:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    raise OSError("connection closed under the cancellation") from None
            except Exception:
                pass  # the loop outlives errors, as the service's loops do
            await asyncio.sleep(3600)

    task = asyncio.create_task(resilient_loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task), timeout=10)
    assert task.cancelled()
    assert rounds == 1


async def test_a_task_that_already_failed_is_waited_for_quietly() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    await cancel_and_wait(None)
    assert task.done()
