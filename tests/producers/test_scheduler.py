"""The open-loop scheduler: on schedule whatever submit does, lag recorded, stop and refusals."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from typing import Any

import pytest

from lgsp.errors import DocumentRefused, LifecycleError
from lgsp.metrics.histogram import Histogram
from producers import OpenLoopScheduler

MS = 1_000_000
BOUND_S = 10  # every wait in this file is bounded by this


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, now_ns: int = 1_000 * MS) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def done_future(result: Any = None) -> asyncio.Future[Any]:
    future = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


def every(interval_ns: int, count: int) -> list[tuple[int, int]]:
    return [(i * interval_ns, i) for i in range(count)]


class Calls:
    """Counts submit calls; ``await calls.reached(n)`` waits (bounded) for the n-th."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        self._changed.set()

    async def reached(self, n: int) -> None:
        async with asyncio.timeout(BOUND_S):
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()
        for _ in range(10):  # let the scheduler finish the iteration it is in
            await asyncio.sleep(0)


async def run(scheduler: OpenLoopScheduler[Any], submit: Any, **kwargs: Any) -> None:
    async with asyncio.timeout(BOUND_S):
        await scheduler.run(submit, **kwargs)


class TestSchedule:
    async def test_slow_submit_grows_the_lag_not_the_schedule(self):
        """Each submit takes 2 ms of a 1 ms schedule: document k goes out k ms late, and is
        still handed its intended time, start + k ms."""
        clock = FakeClock()
        lag = Histogram()
        start = clock()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(every(MS, 1000), start_ns=start,
                                                              lag=lag, clock=clock)
        intended: list[int] = []
        behind: list[int] = []

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            intended.append(intended_ns)
            behind.append(scheduler.behind_ns)
            clock.now_ns += 2 * MS
            return done_future()

        await run(scheduler, submit)
        assert intended == [start + k * MS for k in range(1000)]
        assert behind == [k * MS for k in range(1000)]
        assert lag.count == 1000
        assert lag.max_us == pytest.approx(999_000, rel=1e-3)
        assert lag.percentile_us(50) == pytest.approx(500_000, rel=1e-2)
        assert scheduler.submitted == 1000
        assert scheduler.behind_ns == 0  # done

    async def test_real_slow_submit_falls_behind(self):
        lag = Histogram()
        start = time.monotonic_ns()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(every(2 * MS, 30),
                                                              start_ns=start, lag=lag)
        intended: list[int] = []

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            intended.append(intended_ns)
            await asyncio.sleep(0.01)
            return done_future()

        await run(scheduler, submit)
        assert intended == [start + k * 2 * MS for k in range(30)]
        assert lag.max_us >= 29 * 8_000  # each submit takes >= 10 ms of a 2 ms schedule

    async def test_on_time_sends_wait_for_their_intended_time(self):
        start = time.monotonic_ns()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(every(5 * MS, 20), start_ns=start,
                                                              lag=Histogram())
        sent: list[tuple[int, int]] = []

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            sent.append((intended_ns, time.monotonic_ns()))
            return done_future()

        await run(scheduler, submit)
        assert [i for i, _ in sent] == [start + k * 5 * MS for k in range(20)]
        assert all(actual >= intended - MS for intended, actual in sent)  # never early
        assert scheduler.lag.count == 20

    async def test_far_behind_it_yields_to_the_event_loop(self):
        """No sleep when behind, but other tasks (consumers) still get turns."""
        clock = FakeClock()
        ticks = 0
        seen: list[int] = []

        async def other_task() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            seen.append(ticks)  # never suspends: only the scheduler's yields let others run
            return done_future()

        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            every(0, 1000), start_ns=clock(), lag=Histogram(), clock=clock, yield_every=50)
        task = asyncio.create_task(other_task())
        try:
            await run(scheduler, submit)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert seen[49] == 0 < seen[50]  # the first yield is after 50 submits in a row
        assert seen[-1] >= 1000 // 50 - 1

    async def test_an_earlier_offset_is_just_late(self):
        clock = FakeClock()
        scheduler: OpenLoopScheduler[str] = OpenLoopScheduler(
            [(0, "a"), (5 * MS, "b"), (MS, "c")], start_ns=clock() - 10 * MS, lag=Histogram(),
            clock=clock)
        items: list[str] = []

        async def submit(item: str, intended_ns: int) -> asyncio.Future[Any]:
            items.append(item)
            return done_future()

        await run(scheduler, submit)
        assert items == ["a", "b", "c"]

    async def test_runs_once(self):
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler([], start_ns=0, lag=Histogram())

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            return done_future()

        await run(scheduler, submit)
        with pytest.raises(LifecycleError, match="create a new one"):
            await run(scheduler, submit)


class TestStop:
    async def test_stop_ends_a_sleep_at_once(self):
        stop = asyncio.Event()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            [(0, 0), (60_000 * MS, 1)], start_ns=time.monotonic_ns(), lag=Histogram())

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            asyncio.get_running_loop().call_soon(stop.set)  # while the loop waits for item 1
            return done_future()

        async with asyncio.timeout(5):  # item 1 is a minute away
            await scheduler.run(submit, stop=stop)
        assert scheduler.submitted == 1
        assert scheduler.stopped

    async def test_stop_while_far_behind_an_endless_schedule(self):
        stop = asyncio.Event()
        clock = FakeClock()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            ((0, i) for i in itertools.count()), start_ns=clock(), lag=Histogram(), clock=clock)

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            if item == 499:
                stop.set()
            return done_future()

        await run(scheduler, submit, stop=stop)
        assert scheduler.submitted == 500
        assert scheduler.stopped

    async def test_behind_is_zero_while_waiting_for_the_next_time(self):
        stop = asyncio.Event()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            [(0, 0), (60_000 * MS, 1)], start_ns=time.monotonic_ns(), lag=Histogram())

        calls = Calls()

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            calls.add()
            return done_future()

        task = asyncio.create_task(scheduler.run(submit, stop=stop))
        await calls.reached(1)
        assert scheduler.submitted == 1
        assert scheduler.behind_ns == 0
        stop.set()
        async with asyncio.timeout(5):
            await task
        assert scheduler.stopped
        assert scheduler.submitted == 1

    async def test_stop_still_awaits_outstanding_acks(self):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            every(0, 100), start_ns=time.monotonic_ns(), lag=Histogram(), ack_batch=8)

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            future = loop.create_future()
            futures.append(future)
            loop.call_later(0.05, future.set_result, None)
            if item == 19:
                stop.set()
            return future

        await run(scheduler, submit, stop=stop)
        assert scheduler.submitted == 20
        assert all(f.done() for f in futures)
        assert scheduler.outstanding == 0


class TestOutcomes:
    async def test_refused_documents_are_counted_and_the_loop_goes_on(self):
        lag = Histogram()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            every(0, 10), start_ns=time.monotonic_ns(), lag=lag)

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            if item % 2:
                raise DocumentRefused(f"document {item} is secret")
            return done_future()

        await run(scheduler, submit)
        assert (scheduler.submitted, scheduler.refused, scheduler.failed_sends) == (5, 5, 0)
        assert lag.count == 10

    async def test_failed_produce_futures_are_counted(self):
        loop = asyncio.get_running_loop()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            every(0, 10), start_ns=time.monotonic_ns(), lag=Histogram(), ack_batch=3)

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            future = loop.create_future()
            if item in (2, 7):
                future.set_exception(ConnectionError("broker gone"))
            elif item == 8:
                future.cancel()
            else:
                future.set_result(None)
            return future

        await run(scheduler, submit)
        assert scheduler.submitted == 10
        assert scheduler.failed_sends == 3

    async def test_an_error_from_submit_propagates(self):
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[Any]] = []
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            every(0, 10), start_ns=time.monotonic_ns(), lag=Histogram(), ack_batch=2)

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            if item == 5:
                raise RuntimeError("stage failed")
            future = loop.create_future()  # never acknowledged
            pending.append(future)
            return future

        with pytest.raises(RuntimeError, match="stage failed"):
            await run(scheduler, submit)
        assert scheduler.submitted == 5
        assert not any(f.cancelled() for f in pending)  # the producer's futures are its own

    async def test_outstanding_acks_are_bounded(self):
        """At ``max_outstanding`` unacknowledged documents the loop waits for the oldest batch;
        the wait shows up as lag."""
        loop = asyncio.get_running_loop()
        clock = FakeClock()
        futures: list[asyncio.Future[Any]] = []
        lag = Histogram()
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            every(0, 20), start_ns=clock(), lag=lag, clock=clock, ack_batch=4,
            max_outstanding=8)

        calls = Calls()
        acknowledge = False

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            calls.add()
            if acknowledge:
                return done_future()
            future = loop.create_future()
            futures.append(future)
            return future

        task = asyncio.create_task(scheduler.run(submit))
        await calls.reached(8)
        assert (scheduler.submitted, scheduler.outstanding, scheduler.throttled) == (8, 8, 1)

        clock.now_ns += 50 * MS
        for future in futures[:4]:
            future.set_result(None)
        await calls.reached(12)
        assert (scheduler.submitted, scheduler.outstanding, scheduler.throttled) == (12, 8, 2)
        assert lag.max_us == pytest.approx(50_000, rel=1e-2)

        acknowledge = True
        for future in futures:
            if not future.done():
                future.set_result(None)
        async with asyncio.timeout(BOUND_S):
            await task
        assert (scheduler.submitted, scheduler.outstanding, scheduler.failed_sends) == (20, 0, 0)

    async def test_a_slow_partial_batch_is_acknowledged_without_waiting_for_more(self):
        clock = FakeClock()
        outstanding: list[int] = []
        scheduler: OpenLoopScheduler[int] = OpenLoopScheduler(
            every(0, 10), start_ns=clock(), lag=Histogram(), clock=clock, ack_batch=1000,
            yield_every=1)

        async def submit(item: int, intended_ns: int) -> asyncio.Future[Any]:
            outstanding.append(scheduler.outstanding)
            clock.now_ns += 60 * MS  # a slow rate: a batch is 100 ms old after 2 submits
            return done_future()

        await run(scheduler, submit)
        assert max(outstanding) <= 4
        assert outstanding[-1] < 9


def test_schedule_is_any_iterable() -> None:
    schedule: Iterable[tuple[int, str]] = iter([(0, "x")])
    scheduler = OpenLoopScheduler(schedule, start_ns=0, lag=Histogram())
    assert scheduler.submitted == scheduler.refused == scheduler.failed_sends == 0
    assert scheduler.behind_ns == 0
    with pytest.raises(ValueError, match=">= 1"):
        OpenLoopScheduler(schedule, start_ns=0, lag=Histogram(), ack_batch=0)
