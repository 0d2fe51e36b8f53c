"""The background submission of batches, in every process that serves (and in
`mobivate-hooks send-batch` while it waits): two workers of the one worker shape.

- the planner takes a queued batch and checks and plans it into chunks (`app.sending.planning`);
- the sender turns calls whose process died into `unknown` (`app.sending.chunks.expire_calls`),
  then takes pending chunks one at a time and makes their calls (`app.sending.chunks`).

They share the work with every other process on the same database through leases, and poll
every BATCH_POLL_SECONDS for work another process queued; a batch queued by this process, or a
chunk planned by it, wakes them at once. Stopping lets a call in progress finish and be recorded
(up to MOBIVATE_TIMEOUT_SECONDS), so a restart leaves no call whose outcome is unknown, and
the planner give its batch up for the next process at once.
"""

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.background import Worker, log_and_retry_after
from app.lookups.lookup import LookupPolicy
from app.mobivate.client import MobivateClient
from app.sending.chunks import Writing, claim_chunk, expire_calls, no_lock, submit_chunk
from app.sending.planning import Checks, Planner, claim_batch

logger = logging.getLogger(__name__)


class BatchSubmitter:
    def __init__(self, engine: AsyncEngine, settings: Settings, mobivate: MobivateClient) -> None:
        self._engine = engine
        self._mobivate = mobivate
        self._checks = Checks(
            max_parts=settings.max_message_parts,
            region=settings.default_region,
            lookups=LookupPolicy.from_settings(settings),
        )
        self._lease = timedelta(seconds=settings.batch_lease_seconds)
        self._poll = settings.batch_poll_seconds
        self.owner = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._writing: Writing = no_lock
        if engine.dialect.name == "sqlite":
            lock = asyncio.Lock()
            self._writing = lambda: lock
        retry = log_and_retry_after(self._poll, "batch submission failed; retrying")
        self._stopping = False
        # Planning stops between two slices of messages (~60 ms each).
        self._planner = Worker("batch-planner", self._plan, on_error=retry, stop_grace=5.0)
        self._sender = Worker(
            "batch-sender",
            self._send,
            on_error=retry,
            stop_grace=settings.mobivate_timeout_seconds + 1,
        )

    def start(self) -> None:
        self._stopping = False
        self._planner.start()
        self._sender.start()

    async def stop(self) -> None:
        self._stopping = True
        await self._planner.stop()
        await self._sender.stop()

    def wake(self) -> None:
        self._planner.wake()
        self._sender.wake()

    async def _plan(self) -> float:
        batch = await claim_batch(self._engine, self.owner, self._lease, self._writing)
        if batch is None:
            return self._poll
        planner = Planner(
            self._engine,
            self._mobivate,
            self._checks,
            batch,
            self.owner,
            self._lease,
            self._writing,
        )
        await planner.run(self._sender.wake, lambda: self._stopping)
        return 0

    async def _send(self) -> float:
        await expire_calls(self._engine, self._writing)
        claimed = await claim_chunk(self._engine, self.owner, self._lease, self._writing)
        if claimed is None:
            return self._poll
        await submit_chunk(self._engine, self._mobivate, claimed, self._writing)
        return 0
