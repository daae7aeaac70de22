"""Never step over a hole in a partition: read it again.

The embedded broker (Tansu) can answer a fetch at the tail of a partition, while produce
requests append to it concurrently, with a later record batch than the one at the fetch offset:
batches become readable out of order. The records in between were acknowledged to their producer
and are readable a moment later, but a consumer that takes the first offset it is given as its
position has stepped over them for good. (Measured: 4 producers × 800 records/s on 2 partitions
and a consumer tailing them saw a hole every few seconds; re-read, every hole was there.) That
was the intermittent loss of a status "never reaching the tracker" on a busy machine.

``HoleGuard.take`` keeps, per partition, only the records that follow on from the position the
reader expects, and seeks the consumer back to the first missing offset so the next fetch reads
it again. A hole that is still there after ``patience_s`` is accepted (with a warning): Apache
Kafka has legitimate holes (transaction markers, compacted topics) — never in a run's topics,
whose producers are neither transactional nor compacted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from lgsp.log_limit import LogLimit

log = structlog.get_logger(__name__)

PATIENCE_S = 10.0
"""How long a hole is read again before it is taken for a real one."""

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]]


def following(records: Sequence[ConsumerRecord[Any, Any]], expected: int) -> int:
    """How many of ``records`` (in offset order) follow on from offset ``expected`` without a
    hole."""
    for index, record in enumerate(records):
        if record.offset != expected + index:
            return index
    return len(records)


class HoleGuard:
    """Hands on only the records that follow on from each partition's expected position."""

    def __init__(self, consumer: Callable[[], AIOKafkaConsumer], name: str, *,
                 patience_s: float = PATIENCE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``consumer``: the reader's current consumer (it may be replaced)."""
        self._consumer = consumer
        self.name = name
        self.patience_s = patience_s
        self._clock = clock
        self._holes: dict[TopicPartition, tuple[int, float]] = {}
        """Partition → the missing offset being read again, and since when."""
        self.reread = 0
        """Holes read again (each time a fetch stepped over acknowledged records)."""
        self.accepted = 0
        """Holes still there after ``patience_s``, stepped over."""
        self._logged = LogLimit()

    def take(self, batch: Batch, expected: Callable[[TopicPartition], int | None]
             ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        """The records of ``batch`` to handle now. ``expected(tp)``: the offset the reader
        expects next (None: not known, every record is taken)."""
        kept: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
        for tp, records in batch.items():
            start = expected(tp)
            if start is None or not records:
                kept[tp] = list(records)
                continue
            count = following(records, start)
            if count == len(records):
                self._holes.pop(tp, None)
                kept[tp] = list(records)
                continue
            missing = start + count
            kept[tp] = list(records[:count])
            offset, since = self._holes.get(tp, (missing, self._clock()))
            if offset != missing:
                since = self._clock()
            if self._clock() - since >= self.patience_s:
                self.accepted += 1
                log.warning("offset_hole_accepted", reader=self.name, topic=tp.topic,
                            partition=tp.partition, missing=missing,
                            next_readable=records[count].offset, waited_s=self.patience_s)
                self._holes.pop(tp, None)
                rest = records[count:]
                more = following(rest, rest[0].offset)
                kept[tp] = [*records[:count], *rest[:more]]
                if more < len(rest):  # another hole further on: read from it again
                    self._consumer().seek(tp, rest[0].offset + more)
                continue
            self._holes[tp] = (missing, since)
            self.reread += 1
            self._consumer().seek(tp, missing)
            if (left_out := self._logged.allow()) is not None:
                log.info("offset_hole_reread", reader=self.name, topic=tp.topic,
                         partition=tp.partition, missing=missing,
                         next_readable=records[count].offset, suppressed=left_out)
        return kept
