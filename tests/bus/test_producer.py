"""The tracking producer keeps the metadata of every topic it writes to, on the real broker.

The scenario is the one topic rotation creates: the producer starts while a topic exists (it
learns it from an all-topics metadata refresh), then writes to a topic created later. A plain
aiokafka producer then narrows its refreshes to the new topic and forgets the first one, so a
batch for it waits for a leader until ``request_timeout_ms`` and fails (issue #3's stall).
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from lgsp.bus.admin import create_topics, delete_topics
from lgsp.bus.producer import TrackingProducer
from lgsp.config import BrokerConfig

ACK_TIMEOUT_S = 15.0


@pytest.fixture
async def first_and_later(kafka_bootstrap, run_id):
    """A broker config and two topic names; the first exists, the later one is created by the
    scenario; both are deleted afterwards."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap, partitions=1)
    first, later = f"{run_id}.first", f"{run_id}.later"
    await create_topics(broker, [first])
    yield broker, first, later
    await delete_topics(broker, [first, later])


async def _write_first_then_new(producer: AIOKafkaProducer, broker: BrokerConfig,
                                first: str, later: str) -> None:
    await producer.start()
    async with asyncio.timeout(ACK_TIMEOUT_S):
        # The all-topics refresh a long-lived producer makes every metadata_max_age_ms while it
        # tracks nothing. Forced here because the bootstrap request (an empty topic list) is
        # answered with every topic by Tansu but with none by Apache Kafka (Metadata v1+).
        await producer.client.force_metadata_update()
        await producer.send_and_wait(first, b"a", partition=0)
    await create_topics(broker, [later])
    async with asyncio.timeout(ACK_TIMEOUT_S):
        await producer.send_and_wait(later, b"b", partition=0)
        await producer.client.force_metadata_update()


async def test_plain_aiokafka_forgets_a_topic_learned_before_a_new_one(first_and_later):
    """Why the tracking producer exists: if this starts failing, aiokafka fixed the gap."""
    broker, first, later = first_and_later
    producer = AIOKafkaProducer(**broker.producer_kwargs())
    try:
        await _write_first_then_new(producer, broker, first, later)
        assert producer.client.cluster.partitions_for_topic(first) is None
    finally:
        await producer.stop()


async def test_every_written_topic_stays_in_the_metadata(first_and_later):
    broker, first, later = first_and_later
    producer = TrackingProducer.for_broker(broker)
    try:
        await _write_first_then_new(producer, broker, first, later)
        assert producer.client.cluster.partitions_for_topic(first) == {0}
        assert producer.tracked_topics == {first, later}
        async with asyncio.timeout(ACK_TIMEOUT_S):  # a batch for it finds its leader at once
            await producer.send_and_wait(first, b"c", partition=0)
    finally:
        await producer.stop()


async def test_retained_topics_only_are_refreshed(kafka_bootstrap, run_id):
    """A deleted generation must leave the refreshes (naming it would recreate it: Tansu does,
    and so does Apache Kafka with automatic topic creation on, its default)."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap, partitions=1)
    old, new = f"{run_id}.g0.x", f"{run_id}.g1.x"
    await create_topics(broker, [old, new])
    producer = TrackingProducer.for_broker(broker)
    try:
        await producer.start()
        async with asyncio.timeout(ACK_TIMEOUT_S):
            await producer.send_and_wait(old, b"a", partition=0)
            await producer.send_and_wait(new, b"b", partition=0)
        producer.retain(lambda topic: ".g0." not in topic)
        assert producer.tracked_topics == {new}
        async with asyncio.timeout(ACK_TIMEOUT_S):
            await producer.client.force_metadata_update()
        assert producer.client.cluster.partitions_for_topic(old) is None
        assert producer.client.cluster.partitions_for_topic(new) == {0}
        producer.retain(lambda topic: False)  # never down to "all topics"
        assert producer.tracked_topics == {new}
    finally:
        await producer.stop()
        await delete_topics(broker, [old, new])


class _Metadata:
    def __init__(self, count: int) -> None:
        self.count = count

    def partitions_for_topic(self, _topic: str) -> set[int]:
        return set(range(self.count))

    def available_partitions_for_topic(self, _topic: str) -> set[int]:
        return set(range(self.count))


@pytest.mark.parametrize("partitions", [1, 3, 4, 12])
async def test_a_key_goes_where_the_default_partitioner_puts_it(partitions):
    """Keyed records land where Java's and aiokafka's murmur2 partitioner puts them (other
    clients read a recipient's records from that partition), also when the hash is cached."""
    import os

    from aiokafka.partitioner import DefaultPartitioner

    producer = TrackingProducer(bootstrap_servers="127.0.0.1:9")  # never started
    producer._metadata = _Metadata(partitions)
    keys = [os.urandom(n) for n in range(1, 40)] + [b"000.00.12.H56", b"000.02.31.H26"]
    try:
        for key in keys * 2:  # the second time from the cache
            assert producer._partition("t", None, key, None, key, None) == \
                DefaultPartitioner()(key, list(range(partitions)), list(range(partitions)))
        assert producer._partition("t", 0, b"k", None, b"k", None) == 0
    finally:
        await producer.stop()
