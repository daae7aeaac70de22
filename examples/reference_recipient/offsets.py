"""At-least-once offsets: a record's offset is committed only once every status it caused was
delivered (and every record before it in its partition was done)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Producer, TopicPartition

TopicPartitionKey = tuple[str, int]


@dataclass(slots=True)
class PartitionProgress:
    """Records of one partition in consumption order: offset -> still owed deliveries."""

    owed: OrderedDict[int, int] = field(default_factory=OrderedDict)
    committable: int | None = None
    """The next offset to commit (one past the last record fully done), if it moved."""
    committed: int | None = None

    def taken(self, offset: int) -> None:
        self.owed[offset] = self.owed.get(offset, 0)

    def expect(self, offset: int, deliveries: int = 1) -> None:
        self.owed[offset] = self.owed.get(offset, 0) + deliveries

    def delivered(self, offset: int) -> None:
        if offset in self.owed:
            self.owed[offset] -= 1

    def advance(self) -> int | None:
        """Drop the done records at the head; the offset to commit, when it moved."""
        while self.owed:
            offset, owed = next(iter(self.owed.items()))
            if owed > 0:
                break
            self.owed.popitem(last=False)
            self.committable = offset + 1
        if self.committable is not None and self.committable != self.committed:
            return self.committable
        return None


@dataclass(slots=True)
class Offsets:
    """Progress of every assigned partition."""

    partitions: dict[TopicPartitionKey, PartitionProgress] = field(default_factory=dict)

    def of(self, key: TopicPartitionKey) -> PartitionProgress:
        progress = self.partitions.get(key)
        if progress is None:
            progress = self.partitions[key] = PartitionProgress()
        return progress

    def ready(self) -> dict[TopicPartitionKey, int]:
        """Offsets to commit now."""
        out = {}
        for key, progress in self.partitions.items():
            offset = progress.advance()
            if offset is not None:
                out[key] = offset
        return out

    def committed(self, done: dict[TopicPartitionKey, int]) -> None:
        for key, offset in done.items():
            if key in self.partitions:
                self.partitions[key].committed = offset

    def forget(self, keys: list[TopicPartitionKey]) -> None:
        for key in keys:
            self.partitions.pop(key, None)


def commit_done(consumer: Consumer, producer: Producer, offsets: Offsets, log: logging.Logger,
                *, force: bool) -> None:
    """Commit the offset of every partition's records fully done. ``force`` (the last commit,
    when stopping): flush the producer first and commit synchronously; otherwise asynchronously,
    a failed commit being retried on the next call."""
    if force:
        producer.flush(5)
    ready = offsets.ready()
    if not ready:
        return
    done = [TopicPartition(t, p, o) for (t, p), o in ready.items()]
    try:
        if force:
            consumer.commit(offsets=done, asynchronous=False)
        else:
            consumer.commit(offsets=done, asynchronous=True)
    except Exception as exc:  # noqa: BLE001 - a failed commit is retried on the next tick
        log.warning("commit failed: %s", exc)
        return
    offsets.committed(ready)
