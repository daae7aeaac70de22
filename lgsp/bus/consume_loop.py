"""The one consume loop every stage runs: consume a batch → handle each record → await the produce
futures the handling created → commit. Offsets are committed only after the work for a record is
done (at-least-once), and at most every ``COMMIT_EVERY_S`` while records keep coming: a commit is a
broker round trip, once per batch it sat on every hop's latency and was a sixth of the requests
the embedded broker answers. The offsets of done work not yet committed are committed as soon as
the loop finds nothing new, before its assignment changes and when it stops; a stage killed in
between reads at most that much again (its duplicates are absorbed downstream).

A handler appends the futures of what it sends to ``out``. When it raises ``Rejected`` the loop
still awaits what was already sent (a document routed to its good recipients stays routed), then
sends the record to the dead-letter topic with its reason and keeps going. Any other error is a
fault of the stage itself: it is logged, kept in ``failure`` and ends the loop, and whoever runs
the stage (the simulation) stops with it instead of waiting for records that will never come.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from lgsp.bus.holes import HoleGuard
from lgsp.codec.events import EventCodec
from lgsp.config import BrokerConfig
from lgsp.errors import LifecycleError, Rejected
from lgsp.log_limit import LogLimit
from lgsp.metrics import series
from lgsp.metrics.run import RunMetrics

log = structlog.get_logger(__name__)

Futures = list["asyncio.Future[Any]"]
Handler = Callable[[ConsumerRecord[bytes, bytes], Futures], Awaitable[None]]
STOP_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 60.0
"""A topic no longer wanted is read until drained, or at most this long (then it is released
with a warning: a topic deleted under the loop never reports a high watermark again)."""
COMMITTED_TIMEOUT_S = 2.0
OUT_OF_RANGE_BACKOFF_S = 0.05
MAX_RENEWALS = 5
"""Consumers replaced after an internal error within a minute before the error ends the stage."""
MISSING_TOPIC_RECHECK_S = 0.5
"""How often a loop waiting for a wanted topic to be created looks again."""
COMMIT_EVERY_S = 0.2
"""While records keep coming, done offsets are committed at most this often."""


class DeadLetters:
    """Sends rejected records, whole and with their reason, to the run's dead-letter topic."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, events: EventCodec,
                 metrics: RunMetrics) -> None:
        self.producer = producer
        self.topic = topic
        self.events = events
        self.metrics = metrics
        self._logged = LogLimit()
        """One line a second (with a count of the rest): every record is counted by reason."""

    async def send(self, record: ConsumerRecord[bytes, bytes], rejected: Rejected,
                   stage: str) -> asyncio.Future[Any]:
        self.metrics.record_dead_letter(rejected.reason)
        self.metrics.series.count(series.ERRORS, time.monotonic_ns())
        if (left_out := self._logged.allow()) is not None:
            log.warning("record_dead_lettered", stage=stage, reason=rejected.reason,
                        detail=rejected.detail, topic=record.topic, offset=record.offset,
                        suppressed=left_out)
        value = self.events.encode_dead_letter(
            reason=rejected.reason, detail=rejected.detail, stage=stage, topic=record.topic,
            partition=record.partition, offset=record.offset, key=record.key, value=record.value,
            headers=[(k, v) for k, v in record.headers])
        sent: asyncio.Future[Any] = await self.producer.send(
            self.topic, value=value, key=record.key,
            headers=[("lgsp-reason", rejected.reason.encode())])
        return sent


class ConsumeLoop:
    """Runs ``handler`` over ``topic`` in consumer group ``group`` until stopped.

    With ``partitions`` the loop reads exactly those partitions (a worker's shard: no group join,
    no rebalancing) and still commits its offsets under ``group``, so a restarted worker resumes
    where the work was done.
    """

    def __init__(self, *, name: str, broker: BrokerConfig, topic: str | Sequence[str], group: str,
                 handler: Handler, dead_letters: DeadLetters, max_records: int = 1000,
                 partitions: Sequence[int] | None = None,
                 stage_of: Callable[[ConsumerRecord[bytes, bytes]], str] | None = None,
                 commit: bool = True, start: Mapping[TopicPartition, int] | None = None) -> None:
        """``commit`` False (only with ``partitions``): never commit; read every partition from
        ``start`` (its checkpointed position) or offset 0 — a stage that keeps its own state
        and rebuilds it from the log when it restarts."""
        if not commit and partitions is None:
            raise LifecycleError(f"{name}: a loop that never commits needs fixed partitions")
        self._commit = commit
        self._next: dict[TopicPartition, int] = dict(start or {})
        """Where each partition read resumes: the loop's own positions (a re-assignment forgets
        aiokafka's), seeded by ``start`` or the group's commits when a partition joins."""
        self.name = name
        self._stage_of = stage_of or (lambda _record: name)
        """Which stage a record belongs to (named in dead letters) when one loop feeds several."""
        topics = [topic] if isinstance(topic, str) else list(topic)
        self.topic = topics[0]
        self._partitions = partitions
        self._wanted: frozenset[str] = frozenset(topics)
        self._last_ms: dict[TopicPartition, int] = {}
        """The timestamp of the last record read of each partition (``read_through_ms``)."""
        self._draining: dict[str, float] = {}
        """Topics no longer wanted but not yet read to their end → since when the loop last
        read on in them (monotonic): released once read to their end, or when reading has not
        moved on for ``DRAIN_TIMEOUT_S``."""
        self._drain_progress: dict[str, tuple[int, ...]] = {}
        self._repositioning = False
        """The client's positions are not the loop's (an error left a batch unprocessed, or the
        consumer is being replaced): every partition is sought again before the next fetch."""
        self._assigned: frozenset[str] = frozenset()
        self._missing_checked: frozenset[str] = frozenset()
        self._check_failed = False
        self._recheck_at = 0.0
        """Wanted topics that did not exist when last looked for (or the broker did not say),
        and when to look again."""
        # With fixed partitions every position is set by us (committed, or 0 for a partition
        # never committed), so the client must never reset one on its own: its "earliest" asks
        # ListOffsets, which the embedded broker can answer past records not yet read (they
        # would be skipped). An out-of-range answer is retried at the same offset instead.
        # A loop that never commits needs no group: without one, aiokafka runs no group
        # coordinator, whose routine dies on an assert when ``assign`` replaces the assignment
        # while it looks for the coordinator (a restarted tracker re-assigns at once).
        self._consumer_kwargs: dict[str, Any] = (
            broker.consumer_kwargs(group) if partitions is None
            else {**broker.consumer_kwargs(group if commit else None),
                  "auto_offset_reset": "none"})
        self._topics = topics
        self._consumer = self._new_consumer()
        self._holes = HoleGuard(lambda: self._consumer, name)
        self._renewals: list[float] = []
        """When the consumer was replaced after an internal error (bounded per minute)."""
        self._handler = handler
        self._dead_letters = dead_letters
        self._max_records = max_records
        self._task: asyncio.Task[None] | None = None
        self._uncommitted = False
        """Work done since the last commit (the client's consumed offsets are all done)."""
        self._committed_at = 0.0
        self._stopping = False
        self._stopped = False
        self.processed = 0
        self.failure: BaseException | None = None
        """The error that ended the loop, if it ended on its own."""

    @property
    def reading(self) -> frozenset[str]:
        """The topics the loop reads now: those of the last ``want`` (from the next batch on)
        and those it still drains."""
        return self._assigned

    @property
    def holds(self) -> frozenset[str]:
        """Topics the loop still needs: wanted, or left but not yet read to their end."""
        return self._wanted | frozenset(self._draining)

    async def start(self) -> None:
        if self._stopped:
            raise LifecycleError(f"{self.name} is stopped; create a new one")
        if self._task is not None:
            raise LifecycleError(f"{self.name} is already started")
        await self._consumer.start()
        await self._reassign()
        self._task = asyncio.create_task(self._run(), name=self.name)

    def want(self, topics: Sequence[str]) -> None:
        """Read these topics (same partitions of each) from the next batch on: rotated topic
        generations come and go. Only for a loop with fixed ``partitions``."""
        if self._partitions is None:
            raise LifecycleError(f"{self.name} reads a consumer group; it cannot switch topics")
        wanted = frozenset(topics)
        now = time.monotonic()
        for topic in self._wanted - wanted:  # read to its end before letting go
            self._draining.setdefault(topic, now)
        for topic in wanted:
            self._draining.pop(topic, None)
        self._wanted = wanted

    def _release_drained(self) -> None:
        """Let go of left topics read up to the high watermark of their last fetch (a
        generation whose period is over gets no new records: the watermark is its end)."""
        if self._partitions is None:
            return
        now = time.monotonic()
        for topic, since in list(self._draining.items()):
            if topic not in self._assigned:
                continue  # not read yet: it was wanted before the loop could read it
            tps = [TopicPartition(topic, p) for p in self._partitions]
            held = self._consumer.assignment()
            behind = [tp for tp in tps if not self._drained(tp, held)]
            progress = tuple(self._next.get(tp, 0) for tp in tps)
            if self._drain_progress.get(topic) != progress:  # still reading it: wait on
                self._drain_progress[topic] = progress
                self._draining[topic] = since = now
            if behind and now - since < DRAIN_TIMEOUT_S:
                continue
            if behind:
                log.warning("topic_released_undrained", stage=self.name, topic=topic,
                            partitions=[tp.partition for tp in behind],
                            stalled_s=round(now - since, 1))
            del self._draining[topic]
            self._drain_progress.pop(topic, None)

    def read_through_ms(self) -> int | None:
        """Wall-clock ms up to which every partition the loop reads has been read: the
        timestamp of the last record of the partition furthest behind (one not read up to the
        high watermark of its last fetch). None: every partition is read to its end. A stage
        that judges by time (the tracker's ack timeout) judges up to here, not up to now: a
        loop that lags must not take its own lag for the bus's."""
        held = self._consumer.assignment()
        behind = [self._last_ms.get(tp, 0)
                  for tp in (TopicPartition(t, p) for t in self._assigned
                             for p in self._partitions or ())
                  if not self._drained(tp, held)]
        return min(behind, default=None)

    def _drained(self, tp: TopicPartition, held: set[TopicPartition]) -> bool:
        """Read up to the high watermark of the partition's last fetch. Not while the consumer
        does not hold it (being replaced, or re-assigning): its position is not known there."""
        if self._repositioning or tp not in held:
            return False
        highwater: int | None = self._consumer.highwater(tp)
        return highwater is not None and self._next.get(tp, 0) >= highwater

    async def _reassign(self) -> None:
        """Between batches (nothing uncommitted), after a ``want``: read the new set of topics,
        every partition from a position the loop worked out itself.

        Only wanted topics that exist are assigned; the others are looked for again every
        ``MISSING_TOPIC_RECHECK_S``. A consumer names its assigned topics in its metadata
        requests, and a request naming a missing topic creates it with the broker's default
        partition count (Apache Kafka's default ``auto.create.topics.enable=true``, always on
        the embedded broker): a generation wanted before the coordinator created it (it was
        late on a busy machine) was born with one partition on Apache Kafka instead of the
        run's, and the records for the others had nowhere to go.

        ``aiokafka``'s ``assign`` forgets every position, kept topics included, and then asks the
        group for committed offsets. A kept partition whose generation joined after the last
        commit has none (no record reached the stage since: likely on a busy machine, and
        certain for a restarted stage whose first ``want`` comes before its first batch), and
        with ``auto_offset_reset="none"`` the next fetch raised ``NoOffsetForPartitionError``
        and ended the stage. So every kept partition is sought to where the loop read up to.

        A partition that joins resumes from its committed offset (a restarted stage), or, for a
        loop that never commits, its checkpointed position; otherwise from offset 0, explicitly:
        a topic that joins may already hold records, and resetting to "earliest" asks the
        broker's ListOffsets, which the embedded broker answers wrongly (records would be
        skipped)."""
        if self._partitions is None:
            return
        if self._repositioning and self._partitions is not None:
            for tp in self._consumer.assignment():
                self._consumer.seek(tp, self._next.get(tp, 0))
            self._repositioning = False
        self._release_drained()
        holds = self.holds
        if holds == self._assigned:
            return
        only_missing = self._assigned <= holds and \
            holds - self._assigned <= self._missing_checked
        if time.monotonic() < self._recheck_at and (only_missing or self._check_failed):
            return  # asked a moment ago: the broker did not answer, or those were missing
        existing = await self._existing()
        self._check_failed = existing is None
        self._recheck_at = time.monotonic() + MISSING_TOPIC_RECHECK_S
        if existing is None:
            return
        for topic in [t for t in self._draining if t not in existing]:
            del self._draining[topic]  # deleted under the loop: nothing is left to read
        holds = self.holds
        topics = holds & existing
        self._missing_checked = holds - topics
        if self._missing_checked:
            log.info("loop_topics_not_created_yet", stage=self.name,
                     topics=sorted(self._missing_checked))
        if topics == self._assigned:
            return
        await self._commit_done(force=True)  # ``assign`` forgets the consumed offsets
        wanted = [TopicPartition(t, p) for t in sorted(topics) for p in self._partitions]
        for tp in wanted:
            if tp not in self._next:
                committed = await self._committed(tp) if self._commit else None
                self._next[tp] = committed if committed is not None else 0
        self._consumer.assign(wanted)
        for tp in wanted:
            self._consumer.seek(tp, self._next[tp])
        for tp in [tp for tp in self._next if tp.topic not in topics]:
            del self._next[tp]  # a generation that left is not read again
            self._last_ms.pop(tp, None)
        self._assigned = topics
        log.info("loop_topics", stage=self.name, topics=sorted(topics),
                 draining=sorted(self._draining))

    async def _existing(self) -> frozenset[str] | None:
        """Every topic on the cluster (an all-topics request: it creates none), or None when
        the broker does not answer now (the assignment stays as it is; asked again later)."""
        try:
            async with asyncio.timeout(COMMITTED_TIMEOUT_S):
                return frozenset(await self._consumer.topics())
        except (TimeoutError, KafkaError) as exc:
            log.warning("topic_list_failed", stage=self.name, error=repr(exc))
            return None

    async def _committed(self, tp: TopicPartition) -> int | None:
        try:
            async with asyncio.timeout(COMMITTED_TIMEOUT_S):
                committed: int | None = await self._consumer.committed(tp)
                return committed
        except TimeoutError:  # never block the stage on it: a new topic starts at 0
            log.warning("committed_offset_timeout", stage=self.name, topic=tp.topic,
                        partition=tp.partition)
            return None

    async def abort(self) -> None:
        """Drop the batch in hand (uncommitted: it will be read again) and close; for a run that
        is over without draining (the broker is gone)."""
        self._stopping = True
        self._uncommitted = False  # the broker is gone: nothing more is asked of it
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.stop()

    async def stop(self) -> None:
        """Finish the batch in hand, commit it, close the consumer; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping = True
        try:
            if self._task is not None and not self._task.done():
                try:
                    async with asyncio.timeout(STOP_TIMEOUT_S):
                        await asyncio.shield(self._task)
                except TimeoutError:
                    self._task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task
        finally:
            if self.failure is None and not self._repositioning:
                try:  # what is left uncommitted is read again by the next reader
                    async with asyncio.timeout(COMMITTED_TIMEOUT_S):
                        await self._commit_done(force=True)
                except (TimeoutError, KafkaError) as exc:
                    log.warning("last_commit_failed", stage=self.name, error=repr(exc))
            try:  # a consumer of a vanished broker would wait out its request timeouts
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self._consumer.stop()
            except TimeoutError:
                log.warning("consumer_stop_timed_out", stage=self.name, timeout_s=STOP_TIMEOUT_S)

    async def __aenter__(self) -> ConsumeLoop:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _run(self) -> None:
        try:
            while not self._stopping:
                await self._one_batch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a crashed stage must be reported, not vanish
            self.failure = exc
            log.error("stage_failed", stage=self.name, error=repr(exc))

    def _new_consumer(self) -> AIOKafkaConsumer:
        if self._partitions is None:
            return AIOKafkaConsumer(*self._topics, **self._consumer_kwargs)
        return AIOKafkaConsumer(**self._consumer_kwargs)

    async def _renew_consumer(self, error: KafkaError) -> None:
        """Replace a consumer that an internal error left unusable, and go on from the loop's
        own positions (what was not committed is read again: at least once). aiokafka's group
        coordinator dies on an assert when the assignment changes while it is still looking for
        the coordinator — on a busy machine, at a generation's turn. Only a loop with fixed
        partitions can do this (it knows every position); more than ``MAX_RENEWALS`` a minute
        and the error ends the stage."""
        now = time.monotonic()
        self._renewals = [t for t in self._renewals if now - t < 60.0] + [now]
        if self._partitions is None or len(self._renewals) > MAX_RENEWALS:
            raise error
        log.warning("consumer_renewed", stage=self.name, error=repr(error),
                    renewals_in_last_minute=len(self._renewals))
        old, self._consumer = self._consumer, self._new_consumer()
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await old.stop()
        except (TimeoutError, KafkaError) as exc:
            log.warning("consumer_stop_failed", stage=self.name, error=repr(exc))
        await self._consumer.start()
        partitions = [TopicPartition(t, p) for t in sorted(self._assigned)
                      for p in self._partitions]
        if partitions:  # the same topics, every partition at the loop's position
            self._consumer.assign(partitions)
            for tp in partitions:
                self._consumer.seek(tp, self._next.get(tp, 0))
        self._repositioning = False

    async def _one_batch(self) -> None:
        try:
            await self._work_one_batch()
        except KafkaError as exc:
            # the batch in hand was not (wholly) done: the client's positions are past it, the
            # loop's are not — read it again from the loop's (at least once)
            self._repositioning = True
            if exc.retriable:
                log.warning("consume_retried", stage=self.name, error=repr(exc))
                await asyncio.sleep(OUT_OF_RANGE_BACKOFF_S)
                return
            await self._renew_consumer(exc)

    async def _work_one_batch(self) -> None:
        await self._reassign()
        if self._partitions is not None and not self._assigned:
            # none of the wanted topics exists yet: aiokafka's getmany would wait for an
            # assignment, past its timeout, forever
            await asyncio.sleep(MISSING_TOPIC_RECHECK_S)
            return
        try:
            batch = await self._consumer.getmany(timeout_ms=50, max_records=self._max_records)
        except OffsetOutOfRangeError as exc:  # never jump: read the same offset again
            for tp, offset in exc.args[0].items():
                log.warning("offset_out_of_range_retried", stage=self.name, topic=tp.topic,
                            partition=tp.partition, offset=offset)
                self._consumer.seek(tp, offset)
            await asyncio.sleep(OUT_OF_RANGE_BACKOFF_S)
            return
        if self._partitions is not None:  # never step over a hole (lgsp.bus.holes)
            batch = self._holes.take(batch, self._next.get)
        if not any(batch.values()):
            await self._commit_done(force=True)  # nothing new: commit what is done now
            return
        futures: Futures = []
        for records in batch.values():
            for record in records:
                try:
                    await self._handler(record, futures)
                except Rejected as rejected:
                    futures.append(await self._dead_letters.send(record, rejected,
                                                                 self._stage_of(record)))
        if futures:
            await asyncio.gather(*futures)
        for tp, records in batch.items():
            if records:
                self._next[tp] = records[-1].offset + 1
                self._last_ms[tp] = records[-1].timestamp
        self.processed += sum(len(r) for r in batch.values())
        self._uncommitted = self._commit
        await self._commit_done(force=False)

    async def _commit_done(self, *, force: bool) -> None:
        """Commit the client's consumed offsets — every record the loop has handed out is done
        here, between batches — if there is anything new and ``COMMIT_EVERY_S`` has passed (or
        ``force``). A failed commit leaves the work marked uncommitted: the next one covers it."""
        if not self._uncommitted:
            return
        now = time.monotonic()
        if not force and now - self._committed_at < COMMIT_EVERY_S:
            return
        await self._consumer.commit()
        self._uncommitted = False
        self._committed_at = now
