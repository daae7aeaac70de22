"""The open-loop schedule: document i is intended at ``start + i / rate``, whatever the system does.

A slow bus never slows the schedule: the loop sleeps only until the next intended time, submits, and
never awaits a produce acknowledgement in the loop (futures are awaited per batch in the
background). Latency is measured from the intended time, so queueing in our own process shows up
in the figures instead of hiding (coordinated omission); the lag of actual behind intended is
recorded separately.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from lgsp.errors import ConfigError, DocumentRefused
from lgsp.metrics.histogram import Histogram

log = structlog.get_logger(__name__)

Submit = Callable[[int, int], Awaitable["asyncio.Future[Any]"]]
ACK_BATCH = 256


class OpenLoopScheduler:
    """Submits ``count`` documents at ``rate`` per second on an absolute schedule."""

    def __init__(self, *, rate: float, count: int, lag: Histogram,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        if rate <= 0:
            raise ConfigError("--rate must be > 0 documents per second")
        if count < 0:
            raise ConfigError("--documents must be >= 0")
        self.rate = rate
        self.count = count
        self.lag = lag
        self.clock = clock
        self.submitted = 0
        self.failed_sends = 0
        self._ack_tasks: list[asyncio.Task[None]] = []

    async def run(self, submit: Submit) -> None:
        interval_ns = 1e9 / self.rate
        start = self.clock()
        batch: list[asyncio.Future[Any]] = []
        for i in range(self.count):
            intended = start + int(i * interval_ns)
            delay = intended - self.clock()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            self.lag.record_ns(max(self.clock() - intended, 0))
            try:
                batch.append(await submit(i, intended))
            except DocumentRefused as refused:
                log.warning("document_refused", index=i, reason=str(refused))
                continue
            self.submitted += 1
            if len(batch) >= ACK_BATCH:
                self._ack_tasks.append(asyncio.create_task(self._await_acks(batch)))
                batch = []
        if batch:
            self._ack_tasks.append(asyncio.create_task(self._await_acks(batch)))
        await asyncio.gather(*self._ack_tasks)

    async def _await_acks(self, batch: list[asyncio.Future[Any]]) -> None:
        results = await asyncio.gather(*batch, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            self.failed_sends += len(failures)
            log.error("produce_failed", count=len(failures), error=repr(failures[0]))
