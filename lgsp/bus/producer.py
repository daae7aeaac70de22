"""The producer every component writes with: aiokafka's, keeping the metadata of every topic it
writes to.

Why: aiokafka's client refreshes metadata for the topics in its tracked set, or for *all* topics
while that set is empty. ``send`` only adds a topic to the set when the current metadata does not
know it yet, so a topic first seen through an all-topics refresh is never tracked. As soon as any
other topic gets tracked, refreshes narrow to the tracked set, the untracked topic drops out of
the metadata, and its pending batches wait for a leader that never comes, then fail after
``request_timeout_ms`` with ``NotLeaderForPartitionError``. This happens whenever topics are
created during a run (topic rotation): we saw it stall a worker for 40 s and lose a window of
deliveries. Tracking every written topic explicitly closes the gap.

A rotated-away topic must also leave the tracked set (``retain``): a metadata request naming a
deleted topic creates it again, on the embedded broker and on Apache Kafka with its default
``auto.create.topics.enable=true`` (aiokafka always allows it).

The gap itself shows on both brokers, but sooner on the embedded one: Tansu answers the
bootstrap's metadata request (an empty topic list) with every topic, Apache Kafka with none, so
there a producer learns an untracked topic only from the all-topics refresh it makes every
``metadata_max_age_ms`` while it tracks nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from lgsp.config import BrokerConfig

log = structlog.get_logger(__name__)

KEY_HASHES_KEPT = 100_000
_KEY_HASHES: dict[bytes, int] = {}


class TrackingProducer(AIOKafkaProducer):  # type: ignore[misc]
    """An ``AIOKafkaProducer`` whose metadata always covers every topic it was asked to write to."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tracked: set[str] = set()

    @classmethod
    def for_broker(cls, broker: BrokerConfig) -> TrackingProducer:
        return cls(**broker.producer_kwargs())

    @property
    def tracked_topics(self) -> frozenset[str]:
        return frozenset(self._tracked)

    def track(self, topic: str) -> None:
        """Keep this topic's metadata from now on (a send does it; call it to prepare a topic)."""
        if topic not in self._tracked:
            self._tracked.add(topic)
            self.client.add_topic(topic)  # schedules a metadata refresh; send waits for it

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Stop tracking the topics ``keep`` refuses (deleted ones): refreshes stop naming them."""
        dropped = {topic for topic in self._tracked if not keep(topic)}
        if not dropped or dropped == self._tracked:  # an empty set would mean "all topics"
            return
        self._tracked -= dropped
        self.client.set_topics(self._tracked)

    def fail_pending(self, reason: str) -> None:
        """Fail every record not yet acknowledged (and any later send) at once."""
        self._message_accumulator.fail_all(KafkaConnectionError(reason))

    async def stop_within(self, timeout_s: float) -> None:
        """``stop()``, which flushes what is pending; what is still unsent after ``timeout_s``
        (the broker is gone) fails at once instead of waiting out ``request_timeout_ms``."""
        stopping = asyncio.ensure_future(self.stop())
        done, _ = await asyncio.wait([stopping], timeout=timeout_s)
        if not done:
            log.warning("producer_stop_forced", timeout_s=timeout_s)
            self.fail_pending(f"the producer was closed with records unsent for {timeout_s:.0f} s")
        await stopping

    def _partition(self, topic: str, partition: int | None, key: Any, value: Any,
                   serialized_key: bytes | None, serialized_value: bytes | None) -> int:
        """aiokafka's default partitioner (murmur2 of the key, as Java's), with each key's hash
        computed once: keys are agency codes, a few hundred per run, and the pure-Python murmur2
        was 3 % of a worker's time."""
        if partition is not None or serialized_key is None \
                or not isinstance(self._partitioner, DefaultPartitioner):
            return int(super()._partition(topic, partition, key, value, serialized_key,
                                          serialized_value))
        hashed = _KEY_HASHES.get(serialized_key)
        if hashed is None:
            if len(_KEY_HASHES) >= KEY_HASHES_KEPT:
                _KEY_HASHES.clear()
            hashed = _KEY_HASHES[serialized_key] = murmur2(serialized_key) & 0x7FFFFFFF
        all_partitions = list(self._metadata.partitions_for_topic(topic))
        return int(all_partitions[hashed % len(all_partitions)])

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        if topic not in self._tracked:
            self.track(topic)
        return await super().send(topic, *args, **kwargs)
