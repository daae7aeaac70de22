"""Never step over a hole in a partition: read it again.

The embedded broker (Tansu) can answer a fetch at the tail of a partition, while produce requests
append to it concurrently, with a *later* record batch than the one at the fetch offset. The
records in between were acknowledged to their producers and are readable a moment later, but
librdkafka takes the batch it is given and moves its position past them: a router would never
route them (``copy_delivered``). The project's README (Brokers table) measured a hole every few
seconds with 4 producers × 800 records/s on 2 partitions.

``HoleGuard.take`` hands on only the records that follow on from the offset the partition is
expected at, and seeks the consumer back to the first missing offset so the next fetch reads it
again; the rest of the batch for that partition is dropped (it is read again too). A hole still
there after ``patience_s`` is accepted with a warning: Apache Kafka has legitimate holes
(transaction markers, compaction), never in a run's topics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

log = logging.getLogger("reference_router")

Key = tuple[str, int]
PATIENCE_S = 10.0


@dataclass(slots=True)
class HoleGuard:
    consumer: Consumer
    patience_s: float = PATIENCE_S
    expected: dict[Key, int] = field(default_factory=dict)
    """The next offset each partition must give."""
    since: dict[Key, float] = field(default_factory=dict)
    """When the hole a partition is stuck at was first seen."""
    reread: set[Key] = field(default_factory=set)
    """Partitions sought back in this batch: their later records of the batch are dropped."""
    holes: int = 0

    def assigned(self, partitions: list[TopicPartition], timeout_s: float = 10.0) -> None:
        """Where each assigned partition starts: its committed offset, else (``earliest``) its
        low watermark; unknown (no guard until its first record) when the broker does not say."""
        for p in partitions:
            self.expected.pop((p.topic, p.partition), None)
            self.since.pop((p.topic, p.partition), None)
        try:
            committed = self.consumer.committed(partitions, timeout=timeout_s)
        except KafkaException as exc:
            log.warning("committed offsets unknown (%s): holes are guarded from the first "
                        "record on", exc)
            return
        for p in committed:
            key = (p.topic, p.partition)
            if p.offset >= 0:
                self.expected[key] = p.offset
                continue
            try:
                low, _high = self.consumer.get_watermark_offsets(
                    TopicPartition(p.topic, p.partition), timeout=timeout_s)
            except KafkaException:
                continue
            self.expected[key] = low

    def revoked(self, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            self.expected.pop((p.topic, p.partition), None)
            self.since.pop((p.topic, p.partition), None)

    def new_batch(self) -> None:
        self.reread.clear()

    def take(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the record at ``offset`` is the next one of its partition (route it)."""
        key = (topic, partition)
        if key in self.reread:
            return False
        expected = self.expected.get(key)
        if expected is None or offset == expected:
            self.expected[key] = offset + 1
            self.since.pop(key, None)
            return True
        if offset < expected:  # already taken in this assignment
            return False
        now = time.monotonic()
        first = self.since.setdefault(key, now)
        if now - first >= self.patience_s:
            log.warning("%s[%d]: offsets %d..%d still missing after %.0f s: stepping over them",
                        topic, partition, expected, offset - 1, self.patience_s)
            self.expected[key] = offset + 1
            self.since.pop(key, None)
            return True
        if first == now:
            self.holes += 1
            log.info("%s[%d]: got offset %d where %d was due: reading the hole again", topic,
                     partition, offset, expected)
        try:
            self.consumer.seek(TopicPartition(topic, partition, expected))
        except KafkaException as exc:  # not fetching yet: the next batch tries again
            log.debug("seek %s[%d] to %d: %s", topic, partition, expected, exc)
        self.reread.add(key)
        return False
