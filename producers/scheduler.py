"""The open-loop schedule: every document has an intended time, whatever the system does.

The scheduler is given ``(intended offset from start_ns, item)`` pairs (a load shape's offsets,
already filtered to this worker's documents). A slow bus never slows the schedule:

- the loop sleeps only until the next intended time, then submits; when it is behind it does not
  sleep at all (it only yields to the event loop every ``yield_every`` submits, so that consumers
  in the same process are not starved);
- it never awaits a produce acknowledgement: ``submit`` returns the produce future, and futures are
  awaited per batch (``ack_batch`` documents, or what was submitted in ``ACK_FLUSH_NS``) by
  background tasks;
- the lag of actual behind intended is recorded per document into ``lag``; latency is measured by
  the tracker from the intended time, so queueing in our own process shows up in the figures
  instead of hiding (coordinated omission).

Memory stays bounded: when ``max_outstanding`` submitted documents are still waiting for their
acknowledgement, the loop waits for the oldest batch before submitting more. That wait is
schedule lag like any other (recorded, and latency still counts from the intended time); it only
happens when the broker is far behind, since the producer's own buffer usually pushes back first
(``submit`` then takes longer, which is lag too).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import structlog

from lgsp.errors import DocumentRefused, LifecycleError
from lgsp.log_limit import LogLimit
from lgsp.metrics.histogram import Histogram

log = structlog.get_logger(__name__)

T = TypeVar("T")
Submit = Callable[[T, int], Awaitable["asyncio.Future[Any]"]]

ACK_BATCH = 256
"""Produce futures awaited together by one background task."""
ACK_FLUSH_NS = 100_000_000
"""A partial batch goes to the background once its first document is this old (slow rates)."""
YIELD_EVERY = 64
"""Submits in a row without sleeping after which the loop yields to the event loop once."""
MAX_OUTSTANDING = 100_000
"""Submitted documents awaiting acknowledgement before the loop waits for the oldest batch."""


class OpenLoopScheduler(Generic[T]):
    """Submits each item of ``schedule`` at ``start_ns + offset`` (``clock`` time, ns)."""

    def __init__(self, schedule: Iterable[tuple[int, T]], *, start_ns: int, lag: Histogram,
                 clock: Callable[[], int] = time.monotonic_ns, ack_batch: int = ACK_BATCH,
                 max_outstanding: int = MAX_OUTSTANDING, yield_every: int = YIELD_EVERY) -> None:
        """``schedule`` yields ``(offset_ns, item)`` in non-decreasing offset order (an offset
        earlier than the previous one is simply late: sent at once, its lag recorded)."""
        if ack_batch < 1 or max_outstanding < 1 or yield_every < 1:
            raise ValueError("ack_batch, max_outstanding and yield_every must be >= 1")
        self.schedule = schedule
        self.start_ns = start_ns
        self.lag = lag
        self.clock = clock
        self.ack_batch = ack_batch
        self.max_outstanding = max_outstanding
        self.yield_every = yield_every
        self.submitted = 0
        """Documents handed to the producer."""
        self.failed_sends = 0
        """Submitted documents whose produce future failed (or was cancelled)."""
        self.refused = 0
        """Documents ``submit`` refused (``DocumentRefused``): counted, never sent."""
        self.throttled = 0
        """Times the loop waited for acknowledgements because ``max_outstanding`` was reached."""
        self._refusals_logged = LogLimit()
        self.stopped = False
        """The ``stop`` event ended the run before the schedule did."""
        self._current: int | None = None
        self._batch: list[asyncio.Future[Any]] = []
        self._batch_since = 0
        self._ack_tasks: deque[asyncio.Task[None]] = deque()
        self._outstanding = 0
        self._sleeper: asyncio.Future[None] | None = None
        self._ran = False

    @property
    def behind_ns(self) -> int:
        """How far the loop is behind the schedule right now (0 while it waits for the next
        intended time, or once it is done)."""
        current = self._current
        return 0 if current is None else max(self.clock() - current, 0)

    @property
    def outstanding(self) -> int:
        """Submitted documents whose acknowledgement is not in yet."""
        return self._outstanding

    async def run(self, submit: Submit[T], *, stop: asyncio.Event | None = None) -> None:
        """Submit every item on time, then wait for all acknowledgements.

        ``submit(item, intended_abs_ns)`` hands one item to the producer and returns its produce
        future. ``stop`` set: no more items are submitted (a sleep until the next intended time
        ends at once), and the acknowledgements of those already submitted are still awaited.
        On an exception (from ``submit``, or cancellation) the ack tasks are cancelled and it
        propagates; ``DocumentRefused`` is counted in ``refused`` and the loop goes on."""
        if self._ran:
            raise LifecycleError("this OpenLoopScheduler has run; create a new one")
        self._ran = True
        watcher = asyncio.create_task(self._watch(stop)) if stop is not None else None
        try:
            await self._loop(submit, stop)
            self._current = None
            self._hand_off()
            while self._ack_tasks:
                await self._ack_tasks.popleft()
        except BaseException:
            for task in self._ack_tasks:
                task.cancel()
            await asyncio.gather(*self._ack_tasks, return_exceptions=True)
            self._ack_tasks.clear()
            raise
        finally:
            self._current = None
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)

    async def _loop(self, submit: Submit[T], stop: asyncio.Event | None) -> None:
        clock = self.clock
        unyielded = 0
        for offset, item in self.schedule:
            if stop is not None and stop.is_set():
                self.stopped = True
                return
            intended = self.start_ns + offset
            self._current = intended
            now = clock()
            if intended > now:
                await self._sleep(intended - now)
                unyielded = 0
                if stop is not None and stop.is_set():
                    self.stopped = True
                    return
                now = clock()
            elif unyielded >= self.yield_every:
                await asyncio.sleep(0)
                unyielded = 0
                now = clock()
            if self._outstanding >= self.max_outstanding:
                await self._wait_for_acks()
                now = clock()
            self.lag.record_ns(max(now - intended, 0))
            unyielded += 1
            try:
                future = await submit(item, intended)
            except DocumentRefused as refused:
                self.refused += 1
                if (left_out := self._refusals_logged.allow()) is not None:
                    log.warning("document_refused", intended_ns=intended, reason=str(refused),
                                suppressed=left_out)
                continue
            self.submitted += 1
            self._outstanding += 1
            if not self._batch:
                self._batch_since = now
            self._batch.append(future)
            if len(self._batch) >= self.ack_batch or now - self._batch_since >= ACK_FLUSH_NS:
                self._hand_off()

    async def _sleep(self, delay_ns: int) -> None:
        """Sleep ``delay_ns``; the stop watcher ends the sleep early."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(delay_ns / 1e9, _wake, waiter)
        self._sleeper = waiter
        try:
            await waiter
        finally:
            handle.cancel()
            self._sleeper = None

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        if self._sleeper is not None:
            _wake(self._sleeper)

    async def _wait_for_acks(self) -> None:
        """Too many documents await acknowledgement: wait for the oldest batches."""
        self.throttled += 1
        if self.throttled == 1:
            log.warning("ack_backlog", outstanding=self._outstanding,
                        max_outstanding=self.max_outstanding)
        self._hand_off()
        while self._outstanding >= self.max_outstanding and self._ack_tasks:
            await asyncio.shield(self._ack_tasks[0])
            self._prune()

    def _hand_off(self) -> None:
        """Give the current batch to a background task that awaits its acknowledgements."""
        self._prune()
        if self._batch:
            batch, self._batch = self._batch, []
            self._ack_tasks.append(asyncio.create_task(self._await_acks(batch)))

    def _prune(self) -> None:
        while self._ack_tasks and self._ack_tasks[0].done():
            self._ack_tasks.popleft()

    async def _await_acks(self, batch: list[asyncio.Future[Any]]) -> None:
        try:
            await asyncio.wait(batch)  # unlike gather, never cancels the producer's futures
        finally:
            self._outstanding -= len(batch)
        failures: list[str] = []
        for future in batch:
            if future.cancelled():
                failures.append("cancelled")
            elif (error := future.exception()) is not None:
                failures.append(repr(error))
        if failures:
            self.failed_sends += len(failures)
            log.error("produce_failed", count=len(failures), error=failures[0])


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
