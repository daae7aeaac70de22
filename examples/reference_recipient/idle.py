"""Idle partitions are paused, so no fetch is in flight when a run deletes its topics.

Why: librdkafka 2.16.0 (confluent-kafka 2.16.1) crashes with SIGSEGV (``strcmp`` in
``rd_kafka_metadata_cache_find``, from ``rd_kafka_metadata_update_op``) when the embedded Tansu
broker deletes a topic the client is fetching from: Tansu answers the topic-id Fetch (v16) with
error 3 (UNKNOWN_TOPIC_OR_PARTITION), librdkafka logs "Received Fetch response (error 3) for
unknown topic" and then dereferences a topic name that is not there. A run deletes topics at its
end and, with ``--rotate-topics``, every superseded generation during the run. On Apache Kafka 4.1
the same deletion is harmless. A paused partition is not fetched, and its deletion then only
removes it from the assignment.

A paused partition is watched with ListOffsets (its high watermark) and resumed as soon as a record
is there, so pausing costs a little latency on the first record after a quiet spell, never a
record.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

log = logging.getLogger("reference_recipient")

Key = tuple[str, int]


@dataclass(slots=True)
class IdlePauser:
    """Pauses the partitions of ``consumer`` that gave nothing for ``idle_s`` seconds, and resumes
    one as soon as its high watermark is past its position (checked every ``check_s``)."""

    consumer: Consumer
    idle_s: float = 2.0
    check_s: float = 0.2
    last_seen: dict[Key, float] = field(default_factory=dict)
    next_offset: dict[Key, int] = field(default_factory=dict)
    paused: set[Key] = field(default_factory=set)
    assigned: set[Key] = field(default_factory=set)
    held: bool = False
    """All partitions are paused for another reason (a backlog): leave them alone."""
    _last_check: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.idle_s > 0

    def assigned_now(self, partitions: list[TopicPartition]) -> None:
        """After an assignment: re-pause the partitions that were idle before (a rebalance
        resumes everything it assigns)."""
        now = time.monotonic()
        self.assigned = {(p.topic, p.partition) for p in partitions}
        for key in self.assigned:
            self.last_seen.setdefault(key, now)
        again = [TopicPartition(*key) for key in self.assigned & self.paused]
        if again and self.enabled:
            self.consumer.pause(again)
        self.paused &= self.assigned

    def revoked(self, partitions: list[TopicPartition]) -> None:
        self.assigned -= {(p.topic, p.partition) for p in partitions}

    def seen(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        self.last_seen[key] = time.monotonic()
        self.next_offset[key] = offset + 1

    def tick(self) -> None:
        if not self.enabled or self.held:
            return
        now = time.monotonic()
        if now - self._last_check < self.check_s:
            return
        self._last_check = now
        idle = [key for key in self.assigned - self.paused
                if now - self.last_seen.get(key, now) >= self.idle_s]
        if idle:
            self.consumer.pause([TopicPartition(*key) for key in idle])
            self.paused.update(idle)
            log.debug("paused idle %s", idle)
        for key in sorted(self.paused - set(idle)):
            if self._has_news(key):
                self.consumer.resume([TopicPartition(*key)])
                self.paused.discard(key)
                self.last_seen[key] = time.monotonic()
                log.debug("resumed %s", key)

    def _has_news(self, key: Key) -> bool:
        try:
            low, high = self.consumer.get_watermark_offsets(TopicPartition(*key), timeout=0.5,
                                                            cached=False) or (0, 0)
        except KafkaException:  # a deleted topic, or no leader for now: keep it paused
            return False
        position = self.next_offset.get(key)
        if position is None:
            found = self.consumer.position([TopicPartition(*key)])
            position = found[0].offset if found and found[0].offset >= 0 else low
        return high > position

    def resume_all_but_idle(self) -> None:
        """After a hold: resume every assigned partition except the idle-paused ones."""
        active = [TopicPartition(*key) for key in self.assigned - self.paused]
        if active:
            self.consumer.resume(active)
