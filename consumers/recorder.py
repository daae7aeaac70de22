"""The recorder: copies what crossed the bus into a capture file, byte for byte.

It reads the chosen topics with no consumer group (it never moves anyone's offsets), from the
earliest offset or from ``--from TIME``, and stops on the first of: a duration, a record count,
the end offsets seen at start (``until_end``), or records past ``--to TIME`` on every partition. It
can also follow a live run (``lgsp simulate --record``) and stop when told, after catching up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from lgsp.bus.admin import topic_partitions
from lgsp.bus.holes import HoleGuard
from lgsp.codec.capture import CaptureInfo, CaptureWriter, new_capture_id
from lgsp.codec.registry import SchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError, ConfigError

log = structlog.get_logger(__name__)


@dataclass(kw_only=True, frozen=True, slots=True)
class RecordingLimits:
    """When a recording stops (the first limit reached wins)."""

    from_time: dt.datetime | None = None
    to_time: dt.datetime | None = None
    count: int | None = None
    duration_s: float | None = None
    until_end: bool = False
    """Stop at the end offsets seen when the recording started."""

    def __post_init__(self) -> None:
        if self.count is not None and self.count <= 0:
            raise ConfigError("--count must be > 0")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError("--duration must be > 0 seconds")
        if self.from_time and self.to_time and self.to_time <= self.from_time:
            raise ConfigError("--to must be after --from")


def _ms(moment: dt.datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


class Recorder:
    """Records ``topics`` into ``out``; ``run()`` returns the number of records written."""

    def __init__(self, *, broker: BrokerConfig, topics: list[str], out: Path,
                 registry: SchemaRegistry | None = None, limits: RecordingLimits | None = None,
                 progress: Callable[[int], None] | None = None,
                 trust_anchors: dict[str, list[str]] | None = None) -> None:
        if not topics:
            raise ConfigError("give at least one topic to record (--topics a,b)")
        self.broker = broker
        self.topics = topics
        self.out = out
        self.registry = registry
        self.limits = limits or RecordingLimits()
        self.progress = progress
        self.trust_anchors = trust_anchors or {}
        """The recorded run's root and issuing CAs (PEM), kept in the capture's header."""
        self.written = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask a following recording to finish: it catches up to the end, then closes."""
        self._stop.set()

    def _schemas(self) -> dict[int, dict[str, Any]]:
        if self.registry is None:
            return {}
        out: dict[int, dict[str, Any]] = {}
        for subject in self.registry.subjects:
            for schema in self.registry.versions(subject):
                out[schema.id] = {"subject": subject, "version": schema.version,
                                  "schema": schema.definition}
        return out

    async def run(self, *, follow: bool = False) -> int:
        consumer = AIOKafkaConsumer(**{**self.broker.consumer_kwargs("unused"), "group_id": None})
        await consumer.start()
        try:
            return await self._record(consumer, follow)
        finally:
            await consumer.stop()

    async def _record(self, consumer: AIOKafkaConsumer, follow: bool) -> int:
        partitions: list[TopicPartition] = []
        counts: dict[str, int] = {}
        # An all-topics request: the consumer's own metadata knows no topic yet on Apache Kafka
        # (its bootstrap asks for none), and naming a missing topic would create it.
        existing = await topic_partitions(self.broker, self.topics)
        for topic in self.topics:
            found = existing.get(topic)
            if not found:
                raise BrokerError(f"topic {topic!r} does not exist on {self.broker.bootstrap}")
            counts[topic] = len(found)
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        start_ms = _ms(self.limits.from_time)
        if start_ms is not None:
            found_offsets = await consumer.offsets_for_times(dict.fromkeys(partitions, start_ms))
            for tp, found_offset in found_offsets.items():
                if found_offset is not None:
                    consumer.seek(tp, found_offset.offset)
        # The end of each partition: the larger of ListOffsets and the high watermark of the first
        # fetch (Tansu's ListOffsets under-reports; its fetch high watermark does not).
        listed = await consumer.end_offsets(partitions) if self.limits.until_end else {}
        end: dict[TopicPartition, int] = {}
        position: dict[TopicPartition, int] = {}
        to_ms = _ms(self.limits.to_time)
        done: set[TopicPartition] = set()
        info = CaptureInfo(capture_id=new_capture_id(), source=self.broker.bootstrap or "",
                           topics=counts, schemas=self._schemas(),
                           recorded_at=dt.datetime.now(dt.UTC).isoformat(),
                           trust_anchors=self.trust_anchors)
        deadline = (time.monotonic() + self.limits.duration_s) if self.limits.duration_s else None
        idle_since = time.monotonic()
        guard = HoleGuard(lambda: consumer, "recorder")
        with CaptureWriter(self.out, info) as writer:
            while True:
                if self.limits.count is not None and writer.count >= self.limits.count:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self.limits.until_end and len(done) == len(partitions):
                    break
                if to_ms is not None and len(done) == len(partitions):
                    break
                if follow and self._stop.is_set() and time.monotonic() - idle_since > 1.0:
                    break  # asked to stop and caught up (nothing new for a second)
                # the run writes on while it records: never step over a hole (lgsp.bus.holes)
                batch = guard.take(await consumer.getmany(timeout_ms=100, max_records=2000),
                                   lambda tp: None if tp in done else position.get(tp))
                if self.limits.until_end:
                    for tp in partitions:
                        highwater = consumer.highwater(tp)
                        if tp not in end and highwater is not None:
                            end[tp] = max(highwater, listed.get(tp, 0))
                        if tp in end and position.get(tp, 0) >= end[tp] and not batch.get(tp):
                            done.add(tp)
                if not batch:
                    if not follow and not (self.limits.until_end or deadline or to_ms
                                           or self.limits.count):
                        break
                    continue
                idle_since = time.monotonic()
                for tp, records in batch.items():
                    for r in records:
                        if tp in done or (self.limits.count is not None
                                          and writer.count >= self.limits.count):
                            break
                        if to_ms is not None and r.timestamp > to_ms:
                            done.add(tp)
                            break
                        if start_ms is not None and r.timestamp < start_ms:
                            position[tp] = r.offset + 1  # consumed, even if not kept
                            continue
                        if tp in end and r.offset >= end[tp]:
                            done.add(tp)
                            break
                        writer.write(topic=r.topic, partition=r.partition, offset=r.offset,
                                     timestamp_ms=r.timestamp, timestamp_type=r.timestamp_type,
                                     key=r.key, value=r.value, headers=list(r.headers))
                        position[tp] = r.offset + 1
                if self.progress is not None:
                    self.progress(writer.count)
            self.written = writer.count
        log.info("recording_finished", records=self.written, file=str(self.out))
        return self.written
