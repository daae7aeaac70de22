"""The consume loop over fixed partitions while topic generations come and go (rotation), on the
real broker: a stage never dies for a position it can work out.

Regression (a crash-tolerant run lost 508 deliveries on a busy machine): aiokafka's ``assign()``
forgets the position of every partition, kept topics included, and then looks up the group's
committed offset; a kept partition that had no commit yet (no record had reached the stage since
its generation joined, which a slow machine makes likely) has none, and with
``auto_offset_reset="none"`` the next fetch raised ``NoOffsetForPartitionError`` and ended the
stage. These tests open that window deliberately: a second generation joins before any record was
committed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from structlog.testing import capture_logs

from lgsp.bus.admin import create_topics, delete_topics, topic_partitions
from lgsp.bus.consume_loop import ConsumeLoop, DeadLetters
from lgsp.bus.rotation import Rotation, TopicRotator
from lgsp.bus.topics import TopicNames
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.metrics.run import RunMetrics
from tests.conftest import wait_for

PARTITIONS = (0, 1, 2)


@pytest.fixture
async def generations(kafka_bootstrap, run_id):
    """Three topics of three partitions each: generations g1..g3 of one family."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap, partitions=len(PARTITIONS))
    names = [f"lgsp.{run_id}.g{g}.lgsp-h26.deliver" for g in (1, 2, 3)]
    await create_topics(broker, [*names, f"lgsp.{run_id}.dead-letter"])
    yield broker, names
    await delete_topics(broker, [*names, f"lgsp.{run_id}.dead-letter"])


async def _produce(broker: BrokerConfig, records: list[tuple[str, int]]) -> None:
    producer = AIOKafkaProducer(**broker.producer_kwargs())
    await producer.start()
    try:
        for i, (topic, partition) in enumerate(records):
            await producer.send_and_wait(topic, f"record {i}".encode(), partition=partition)
    finally:
        await producer.stop()


def _loop(broker: BrokerConfig, run_id: str, topics: list[str], seen: list[Any],
          producer: AIOKafkaProducer, *, commit: bool = True, slow_s: float = 0.0) -> ConsumeLoop:
    async def handle(record: ConsumerRecord[bytes, bytes], _out: list[Any]) -> None:
        if slow_s:
            await asyncio.sleep(slow_s)  # a slow stage: the backlog grows
        seen.append((record.topic, record.partition, record.offset))

    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    dead = DeadLetters(producer, f"lgsp.{run_id}.dead-letter", events, RunMetrics())
    return ConsumeLoop(name="worker 1/1", broker=broker, topic=topics, group=f"{run_id}-worker",
                       handler=handle, dead_letters=dead, partitions=PARTITIONS, commit=commit)


class TestRotatedGenerations:
    @pytest.mark.parametrize("commit", [True, False], ids=["committing", "own-positions"])
    async def test_a_generation_joining_before_any_commit_keeps_every_position(
            self, generations, run_id, commit):
        """g1 is read but nothing arrives; g2 and then g3 join; every record later written to any
        partition of any generation is read exactly once and the stage stays alive."""
        broker, names = generations
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        loop = _loop(broker, run_id, names[:1], seen, producer, commit=commit)
        try:
            await loop.start()
            await asyncio.sleep(0.3)  # a few empty batches: nothing to commit
            loop.want(names[:2])
            await wait_for(lambda: loop.processed == 0 and loop.reading == frozenset(names[:2]),
                           timeout_s=10, what="g2 assigned")
            await asyncio.sleep(0.3)
            loop.want(names[1:])  # g1 leaves, g2 kept (never committed), g3 joins
            await asyncio.sleep(0.3)
            assert loop.failure is None, f"the stage died: {loop.failure!r}"
            wanted = [(t, p) for t in names[1:] for p in PARTITIONS]
            await _produce(broker, wanted)
            await wait_for(lambda: len(seen) >= len(wanted) or loop.failure is not None,
                           timeout_s=30, what="every record read")
            assert loop.failure is None, f"the stage died: {loop.failure!r}"
            assert sorted((t, p) for t, p, _ in seen) == sorted(wanted)
        finally:
            await loop.stop()
            await producer.stop()

    async def test_a_restarted_stage_resumes_kept_generations_where_the_last_one_committed(
            self, generations, run_id):
        """What a restarted router does: positions come from the group's commits, then another
        generation joins before its first batch; nothing is read twice, nothing skipped."""
        broker, names = generations
        await _produce(broker, [(names[0], p) for p in PARTITIONS])
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        try:
            first = _loop(broker, run_id, names[:1], seen, producer)
            await first.start()
            await wait_for(lambda: len(seen) == len(PARTITIONS), timeout_s=30,
                           what="g1 read by the first incarnation")
            await first.stop()
            await _produce(broker, [(names[0], 1)])
            again = _loop(broker, run_id, names[:1], seen, producer)
            await again.start()
            again.want(names[:2])  # at once, before any batch of its own
            await _produce(broker, [(names[1], 2)])
            await wait_for(lambda: len(seen) == len(PARTITIONS) + 2 or again.failure is not None,
                           timeout_s=30, what="the new records")
            await asyncio.sleep(0.3)  # anything read twice would show up by now
            await again.stop()
            assert again.failure is None, f"the stage died: {again.failure!r}"
            assert sorted(seen) == sorted([(names[0], p, 0) for p in PARTITIONS]
                                          + [(names[0], 1, 1), (names[1], 2, 0)])
        finally:
            await producer.stop()


class TestGenerationsNotCreatedYet:
    async def test_a_wanted_topic_is_not_created_by_asking_and_is_read_once_created(
            self, generations, run_id):
        """A generation wanted before the coordinator created it (late on a busy machine) is not
        brought into being by the loop's metadata requests — Apache Kafka would create it with
        one partition, not the run's three — and is read from the moment it is created."""
        broker, names = generations
        late = f"lgsp.{run_id}.g4.lgsp-h26.deliver"
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        loop = _loop(broker, run_id, names[:1], seen, producer)
        try:
            await loop.start()
            loop.want([names[0], late])
            await _produce(broker, [(names[0], 0)])  # read in a batch after the want
            await wait_for(lambda: len(seen) == 1, timeout_s=30, what="the g1 record")
            assert loop.reading == frozenset(names[:1])
            assert await topic_partitions(broker, [late]) == {}, "g4 was created by asking"
            await create_topics(broker, [late])
            assert await topic_partitions(broker, [late]) == {late: list(PARTITIONS)}
            await _produce(broker, [(late, p) for p in PARTITIONS])
            await wait_for(lambda: len(seen) == 1 + len(PARTITIONS) or loop.failure is not None,
                           timeout_s=30, what="the g4 records")
            assert loop.failure is None, f"the stage died: {loop.failure!r}"
            assert loop.reading == frozenset([names[0], late])
            assert sorted(seen) == sorted([(names[0], 0, 0)] + [(late, p, 0) for p in PARTITIONS])
        finally:
            await loop.stop()
            await producer.stop()
            await delete_topics(broker, [late])

    async def test_a_loop_started_before_any_of_its_topics_exists_reads_them_once_created(
            self, generations, run_id):
        """Nothing to assign yet: the loop neither creates the topic nor waits for an assignment
        that never comes (aiokafka's getmany would, past its timeout); it stops when asked."""
        broker, _names = generations
        late = f"lgsp.{run_id}.g5.lgsp-h26.deliver"
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        loop = _loop(broker, run_id, [late], seen, producer)
        try:
            await loop.start()
            assert loop.reading == frozenset()
            assert await topic_partitions(broker, [late]) == {}, "g5 was created by asking"
            await create_topics(broker, [late])
            await _produce(broker, [(late, p) for p in PARTITIONS])
            await wait_for(lambda: len(seen) == len(PARTITIONS) or loop.failure is not None,
                           timeout_s=30, what="the g5 records")
            assert loop.failure is None, f"the stage died: {loop.failure!r}"
            assert sorted(seen) == [(late, p, 0) for p in PARTITIONS]
        finally:
            async with asyncio.timeout(15):  # stop() is bounded: a hung batch would be cancelled
                await loop.stop()
            await producer.stop()
            await delete_topics(broker, [late])


class TestDrainingBeforeLettingGo:
    async def test_a_generation_that_leaves_is_read_to_its_end_first(self, generations, run_id):
        """A slow stage (20 ms a record) is told to move on from g1 while most of g1 is still
        unread: it keeps reading g1 until its end, then lets go of it."""
        broker, names = generations
        records = [(names[0], p) for p in PARTITIONS for _ in range(10)]
        await _produce(broker, records)
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        loop = _loop(broker, run_id, names[:1], seen, producer, slow_s=0.02)
        try:
            await loop.start()
            await wait_for(lambda: len(seen) >= 1, timeout_s=30, what="the first record")
            loop.want(names[1:2])
            assert names[0] in loop.holds, "g1 must be held while unread"
            await wait_for(lambda: names[0] not in loop.reading or loop.failure is not None,
                           timeout_s=60, what="g1 let go")
            assert loop.failure is None, f"the stage died: {loop.failure!r}"
            assert sum(1 for t, _p, _o in seen if t == names[0]) == len(records)
            assert loop.holds == {names[1]}
        finally:
            await loop.stop()
            await producer.stop()

    async def test_read_through_is_behind_while_the_loop_lags(self, generations, run_id):
        """A stage that has not read everything judges time up to its last record, not now."""
        broker, names = generations
        await _produce(broker, [(names[0], 0)] * 30)
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        loop = _loop(broker, run_id, names[:1], seen, producer, slow_s=0.05)
        try:
            await loop.start()
            await wait_for(lambda: len(seen) >= 1, timeout_s=30, what="the first record")
            await wait_for(lambda: loop.read_through_ms() is not None, timeout_s=10,
                           what="a fetch that shows the backlog")
            assert loop.read_through_ms() <= time.time() * 1000
            await wait_for(lambda: len(seen) == 30, timeout_s=60, what="the backlog read")
            await wait_for(lambda: loop.read_through_ms() is None, timeout_s=10,
                           what="read to the end")
        finally:
            await loop.stop()
            await producer.stop()


class TestRotatorHolds:
    async def test_a_held_generation_is_not_deleted_when_its_time_comes(self, kafka_bootstrap,
                                                                       run_id):
        """Generations 0 and 1 are both past their deletion time; a reader holds 1: only 0
        goes."""
        broker = BrokerConfig(bootstrap=kafka_bootstrap)
        rotator = TopicRotator(Rotation(1.0, keep_s=0.0), TopicNames(run_id), ["LGSP-H26"],
                               broker)
        await rotator.prepare()
        try:
            far = int(60e9)  # every generation created so far is over by the clock
            await rotator.tick(far, held_from=1)
            assert rotator.deleted == 0
            await rotator.tick(far, held_from=1)
            assert rotator.deleted == 0, "held generation 1 was deleted"
            await rotator.tick(far, held_from=2)
            assert rotator.deleted == 1
        finally:
            await rotator.delete_remaining()


class TestClientFailure:
    async def test_a_consumer_broken_inside_the_client_is_replaced_and_nothing_is_lost(
            self, generations, run_id):
        """aiokafka's group coordinator can die on an internal assert (the assignment changed
        while it looked for the coordinator); the next fetch raises it. The loop replaces its
        consumer and reads on from its own positions: every record once, the stage alive."""
        broker, names = generations
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        loop = _loop(broker, run_id, names[:1], seen, producer)
        try:
            await loop.start()
            await _produce(broker, [(names[0], p) for p in PARTITIONS])
            await wait_for(lambda: len(seen) == len(PARTITIONS), timeout_s=30, what="first")
            broken = loop._consumer  # the fault is injected into the client itself

            async def coordination_died(*_args: Any, **_kwargs: Any) -> Any:
                raise KafkaError("Unexpected error during coordination AssertionError()")

            broken.getmany = coordination_died  # type: ignore[method-assign]
            with capture_logs() as logs:
                await _produce(broker, [(names[0], p) for p in PARTITIONS])
                await wait_for(lambda: len(seen) == 2 * len(PARTITIONS)
                               or loop.failure is not None, timeout_s=30, what="the rest")
            assert loop.failure is None, f"the stage died: {loop.failure!r}"
            assert [e["event"] for e in logs].count("consumer_renewed") == 1
            assert len(set(seen)) == len(seen) == 2 * len(PARTITIONS)
        finally:
            await loop.stop()
            await producer.stop()

    async def test_a_batch_whose_sends_failed_is_read_again(self, generations, run_id):
        """A forward of the batch fails with a retriable error (the broker went away): the loop
        reads the same records again from its own positions — none is skipped, whatever the
        client had fetched past them."""
        from aiokafka.errors import KafkaConnectionError

        broker, names = generations
        seen: list[Any] = []
        failed_once: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()

        async def handle(record: ConsumerRecord[bytes, bytes], out: list[Any]) -> None:
            seen.append((record.topic, record.partition, record.offset))
            if record.offset == 1 and not failed_once:
                failed_once.append(record.offset)
                failure: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failure.set_exception(KafkaConnectionError("the broker went away"))
                out.append(failure)

        events = EventCodec(AvroCodec(FileSchemaRegistry()))
        loop = ConsumeLoop(name="worker 1/1", broker=broker, topic=names[:1],
                           group=f"{run_id}-worker", handler=handle,
                           dead_letters=DeadLetters(producer, f"lgsp.{run_id}.dead-letter",
                                                    events, RunMetrics()),
                           partitions=PARTITIONS)
        try:
            await _produce(broker, [(names[0], 0)] * 5)
            await loop.start()
            await wait_for(lambda: ({o for _t, _p, o in seen} >= set(range(5))
                           and len(seen) > 5) or loop.failure is not None, timeout_s=30,
                           what="the batch read again")
            await _produce(broker, [(names[0], 0)] * 2)
            await wait_for(lambda: {o for _t, _p, o in seen} >= set(range(7))
                           or loop.failure is not None, timeout_s=30, what="the next records")
            assert loop.failure is None, f"the stage died: {loop.failure!r}"
            assert failed_once == [1]
            counts = {o: sum(1 for _t, _p, x in seen if x == o) for o in range(7)}
            assert counts[1] == 2, counts  # the failed one, read again
            assert all(n >= 1 for n in counts.values()), counts
        finally:
            await loop.stop()
            await producer.stop()


class TestCoalescedCommits:
    async def test_done_work_is_committed_as_soon_as_nothing_new_comes(self, generations,
                                                                       run_id, monkeypatch):
        """Commits are coalesced while records keep coming (here: at most one a minute), but a
        loop that has caught up commits at once: a stage killed while idle reads nothing again."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        import lgsp.bus.consume_loop as consume_loop

        monkeypatch.setattr(consume_loop, "COMMIT_EVERY_S", 60.0)
        broker, names = generations
        seen: list[Any] = []
        producer = AIOKafkaProducer(**broker.producer_kwargs())
        await producer.start()
        reader = AIOKafkaConsumer(**broker.consumer_kwargs(f"{run_id}-worker"))
        await reader.start()
        loop = _loop(broker, run_id, names[:1], seen, producer)
        committed: dict[int, int | None] = {}

        async def committed_up_to(offset: int) -> None:
            deadline = time.monotonic() + 10
            while True:
                for p in PARTITIONS:
                    committed[p] = await reader.committed(TopicPartition(names[0], p))
                if all(committed[p] == offset for p in PARTITIONS):
                    return
                assert time.monotonic() < deadline, f"committed {committed}, want {offset} each"
                await asyncio.sleep(0.1)

        try:
            await loop.start()
            for burst in (1, 2):  # the first commit is due at once, the second only when idle
                await _produce(broker, [(names[0], p) for p in PARTITIONS])
                await wait_for(lambda n=burst: len(seen) == n * len(PARTITIONS), timeout_s=30,
                               what=f"burst {burst} read")
                await committed_up_to(burst)
            assert loop.failure is None
        finally:
            await loop.stop()
            await reader.stop()
            await producer.stop()
