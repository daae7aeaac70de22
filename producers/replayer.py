"""The replayer: plays a capture back on an **absolute clock**, filtered, without duplicates.

Record *i* with recorded time *tᵢ* is sent at ``start + (t'ᵢ − t₀) / speed``, where *t'* is the
recorded timeline with gaps longer than ``max_gap`` shortened to it. Every send time comes from the
file, never from the previous actual send, so lateness never accumulates (GoReplay's drift). The
file order is kept, so per-key (per-partition) order holds at any speed; the original partition is
kept when the target topic has the same partition count.

**Safe to run twice.** Each replayed record index is written, after Kafka acknowledged it, to a
ledger topic in the target cluster (``lgsp.replay-ledger``, keyed by capture id + salt); a replay
of the same capture skips what the ledger holds, so a second run (or a resumed one) creates no
duplicates. ``--rewrite-ids`` gives every document a consistent new DocumentId (the same for the
document, its statuses and its record key) so a capture can be replayed as *new* traffic, e.g.
looped: the signed bytes are kept untouched — re-signing would need the original agencies' private
keys, which a replay must not hold — and the new identity travels beside them in ``lgsp-id``, the
signed one in ``lgsp-replay-of``; recipients check the content against the latter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lgsp.bus import headers as hdr
from lgsp.bus.admin import create_topics, topic_partitions
from lgsp.bus.producer import TrackingProducer
from lgsp.bus.topics import TopicNames
from lgsp.codec.capture import CapturedRecord, CaptureReader
from lgsp.config import BrokerConfig
from lgsp.domain.topology import Topology
from lgsp.errors import ConfigError, Rejected
from lgsp.metrics.histogram import Histogram

log = structlog.get_logger(__name__)

LEDGER_TOPIC = "lgsp.replay-ledger"
LEDGER_PARTITIONS = 1
"""The replay ledger's partitions (an existing ledger with more is read whole all the same)."""
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(x|%)?\s*$", re.IGNORECASE)


def parse_speed(text: str) -> float:
    """``10`` or ``10x`` = ten times faster; ``50%`` = half speed."""
    m = _SPEED.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--speed {text!r}: give a factor like 10, 10x, 0.5 or 50%")
    value = float(m.group(1))
    return value / 100 if m.group(2) == "%" else value


@dataclass(kw_only=True, frozen=True, slots=True)
class ReplayFilter:
    """Which records to replay; documents match on their content, statuses follow their document."""

    topics: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()
    """Sender or recipient agency codes."""
    tiers: frozenset[str] = frozenset()
    """Sender tiers."""
    document_types: frozenset[str] = frozenset()
    priorities: frozenset[int] = frozenset()
    submissions_only: bool = False
    """Only documents as senders submitted them (no hop yet): let the bus route them again."""
    from_ms: int | None = None
    to_ms: int | None = None

    @property
    def needs_content(self) -> bool:
        return bool(self.agencies or self.tiers or self.document_types or self.priorities)


@dataclass(kw_only=True, frozen=True, slots=True)
class ReplayConfig:
    speed: float = 1.0
    max_gap_s: float | None = None
    loops: int = 1
    topic_map: dict[str, str] = field(default_factory=dict)
    """Send topic a to topic b (``--topic-map a=b``; wins over ``into_run``)."""
    into_run: str | None = None
    """Send each run topic of the capture (``lgsp.<run>[.g<N>].<rest>``) to this run's
    ``lgsp.<into_run>.<rest>`` (``--into-run``: e.g. a bus-only run's topics)."""
    fresh_timestamps: bool = False
    rewrite_ids: bool = False
    salt: str = ""
    use_ledger: bool = True
    ledger_topic: str = LEDGER_TOPIC
    skip_corrupt: bool = False
    partitions: int | None = None
    """Partitions of destination topics the replay creates; None: those of the recorded topic."""

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ConfigError("--speed must be > 0")
        if self.max_gap_s is not None and self.max_gap_s < 0:
            raise ConfigError("--max-gap must be >= 0 seconds")
        if self.loops < 1:
            raise ConfigError("--loop must be >= 1")
        if self.partitions is not None and self.partitions < 1:
            raise ConfigError("--partitions must be at least 1")
        if self.into_run is not None:
            TopicNames(self.into_run)  # letters, digits, '-' or '_', as a run id must be
        if self.loops > 1 and not self.rewrite_ids:
            raise ConfigError("--loop N > 1 sends every document N times: add --rewrite-ids so "
                              "each loop is new traffic instead of duplicates")


@dataclass(slots=True)
class PlannedRecord:
    record: CapturedRecord
    loop: int
    at_ms: float
    """Offset from the replay start on the compressed, speed-adjusted timeline."""


@dataclass(slots=True)
class ReplayResult:
    planned: int = 0
    sent: int = 0
    skipped_by_filter: int = 0
    skipped_already_replayed: int = 0
    corrupt_blocks_skipped: int = 0
    """Corrupt blocks of the capture ``--skip-corrupt`` went past."""
    records_unreadable: int = 0
    """Records lost in those blocks, as far as the readable ones tell (a corrupt tail hides
    how many it held)."""
    by_topic: Counter[str] = field(default_factory=Counter)
    scheduled_duration_s: float = 0.0
    """Start → the last record's scheduled send time."""
    actual_duration_s: float = 0.0
    """Start → the last record's actual send."""
    timing_error: Histogram = field(default_factory=Histogram)
    """Actual send time behind the scheduled one, µs."""

    def to_json(self) -> dict[str, Any]:
        return {"planned": self.planned, "sent": self.sent,
                "skipped_by_filter": self.skipped_by_filter,
                "skipped_already_replayed": self.skipped_already_replayed,
                "corrupt_blocks_skipped": self.corrupt_blocks_skipped,
                "records_unreadable": self.records_unreadable,
                "by_topic": dict(sorted(self.by_topic.items())),
                "scheduled_duration_s": round(self.scheduled_duration_s, 3),
                "actual_duration_s": round(self.actual_duration_s, 3),
                "timing_error_ms": self.timing_error.summary_ms()}


class _CaptureSchemas:
    """Parsed schemas from the capture header, by id."""

    def __init__(self, schemas: dict[int, dict[str, Any]]) -> None:
        self._raw = schemas
        self._parsed: dict[int, Any] = {}

    def subject(self, schema_id: int) -> str | None:
        entry = self._raw.get(schema_id)
        return entry["subject"] if entry else None

    def parsed(self, schema_id: int) -> Any:
        if schema_id not in self._parsed:
            self._parsed[schema_id] = fastavro.parse_schema(self._raw[schema_id]["schema"])
        return self._parsed[schema_id]

    def decode(self, value: bytes) -> tuple[int, dict[str, Any]] | None:
        """(schema id, record) of a framed value whose schema the capture carries."""
        if len(value) < 5 or value[0] != 0:
            return None
        schema_id = int.from_bytes(value[1:5], "big")
        if schema_id not in self._raw:
            return None
        record = fastavro.schemaless_reader(io.BytesIO(value[5:]), self.parsed(schema_id), None)
        return (schema_id, record) if isinstance(record, dict) else None


class Replayer:
    """Plans and sends a capture; ``run()`` returns a ``ReplayResult``."""

    def __init__(self, capture: Path, *, broker: BrokerConfig | None, config: ReplayConfig,
                 selection: ReplayFilter | None = None, topology: Topology | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.capture = capture
        self.broker = broker
        self.config = config
        self.selection = selection or ReplayFilter()
        self.topology = topology
        self.progress = progress
        # a first pass validates the whole file before anything is sent
        reader = CaptureReader(capture, skip_corrupt=config.skip_corrupt)
        self.info = reader.info
        self.records = list(reader)
        self.corrupt_blocks = reader.skipped_blocks
        """Blocks ``--skip-corrupt`` went past (their records are not replayed)."""
        indexes = sorted(r.index for r in self.records)
        self.records_unreadable = (indexes[-1] + 1 - len(indexes)) if indexes else 0
        """Records missing between the first and the last readable one (a corrupt block at
        the very end hides how many it held)."""
        self.schemas = _CaptureSchemas(self.info.schemas)

    # ---- selection -----------------------------------------------------------------------------
    def _document_matches(self, record: CapturedRecord, routing: hdr.Routing) -> bool:
        s = self.selection
        if s.submissions_only and routing.trace:
            return False
        if not s.needs_content:
            return True
        content = self._content(record)
        if content is None:
            return False
        parties = {content["sender"], *content["recipients"]}
        if s.agencies and not (parties & s.agencies):
            return False
        if s.tiers:
            agency = self.topology.agencies.get(content["sender"]) if self.topology else None
            if agency is None or agency.tier not in s.tiers:
                return False
        if s.document_types and content["type_name"] not in s.document_types:
            return False
        return not (s.priorities and content["priority"] not in s.priorities)

    def _content(self, record: CapturedRecord) -> dict[str, Any] | None:
        envelope = self.schemas.decode(record.value or b"")
        if envelope is None or "content_schema_id" not in envelope[1]:
            return None
        schema_id = envelope[1]["content_schema_id"]
        if self.schemas.subject(schema_id) is None:
            return None
        body = fastavro.schemaless_reader(io.BytesIO(envelope[1]["content"]),
                                          self.schemas.parsed(schema_id), None)
        return body if isinstance(body, dict) else None

    def selected(self, result: ReplayResult) -> list[CapturedRecord]:
        s = self.selection
        chosen: list[CapturedRecord] = []
        documents: set[str] = set()
        for record in self.records:
            if s.topics and record.topic not in s.topics:
                result.skipped_by_filter += 1
                continue
            if (s.from_ms is not None and record.timestamp_ms < s.from_ms) or (
                    s.to_ms is not None and record.timestamp_ms > s.to_ms):
                result.skipped_by_filter += 1
                continue
            try:
                routing: hdr.Routing | None = hdr.parse(record.headers)
            except Rejected:  # not a bus record (no routing headers)
                routing = None
            if routing is None:
                keep = not (s.needs_content or s.submissions_only)
            elif routing.kind == hdr.DOCUMENT:
                keep = self._document_matches(record, routing)
                if keep:
                    documents.add(routing.document_id)
            else:
                keep = (not (s.needs_content or s.submissions_only)
                        or routing.document_id in documents) and not s.submissions_only
            if keep:
                chosen.append(record)
            else:
                result.skipped_by_filter += 1
        return chosen

    def plan(self, result: ReplayResult) -> list[PlannedRecord]:
        """The schedule: every record's send offset on the compressed, scaled timeline."""
        result.corrupt_blocks_skipped = self.corrupt_blocks
        result.records_unreadable = self.records_unreadable
        chosen = self.selected(result)
        planned: list[PlannedRecord] = []
        if not chosen:
            return planned
        max_gap_ms = None if self.config.max_gap_s is None else self.config.max_gap_s * 1000
        # The recorded timeline (partitions interleave in a capture): each distinct timestamp
        # gets its offset from t0, with gaps longer than max_gap shortened.
        virtual: dict[int, float] = {}
        previous, clock = None, 0.0
        for ts in sorted({r.timestamp_ms for r in chosen}):
            if previous is not None:
                gap = ts - previous
                clock += min(gap, max_gap_ms) if max_gap_ms is not None else gap
            virtual[ts] = clock
            previous = ts
        span = clock
        for loop in range(self.config.loops):
            last_in_partition: dict[tuple[str, int], float] = {}
            one_loop: list[PlannedRecord] = []
            for record in chosen:  # a partition never goes back in time: its order is kept
                where = (record.topic, record.partition)
                at = max(virtual[record.timestamp_ms], last_in_partition.get(where, 0.0))
                last_in_partition[where] = at
                one_loop.append(PlannedRecord(record, loop, (loop * span + at)
                                              / self.config.speed))
            one_loop.sort(key=lambda p: p.at_ms)  # stable: file order within equal times
            planned += one_loop
        result.planned = len(planned)
        result.scheduled_duration_s = planned[-1].at_ms / 1000
        return planned

    # ---- identity rewriting ------------------------------------------------------------------
    def _salt(self, loop: int) -> str:
        return f"{self.config.salt}:{loop}" if self.config.rewrite_ids else self.config.salt

    def _new_id(self, original: str, loop: int) -> str:
        digest = hashlib.sha256(f"{self.info.capture_id}:{self._salt(loop)}:{original}".encode())
        return f"{original}~r{digest.hexdigest()[:8]}"

    def _rewrite(self, record: CapturedRecord, loop: int
                 ) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
        key, value, headers = record.key, record.value, list(record.headers)
        if not self.config.rewrite_ids:
            return key, value, headers
        try:
            routing = hdr.parse(headers)
        except Rejected:  # not a bus record: leave it as it is
            return key, value, headers
        original = routing.document_id if not routing.replay_of else routing.replay_of
        new_id = self._new_id(original, loop)
        out: list[tuple[str, bytes | None]] = [
            (k, v) for k, v in headers if k not in (hdr.ID, hdr.REPLAY_OF)]
        out.insert(1, (hdr.ID, new_id.encode()))
        if routing.kind == hdr.DOCUMENT:
            out.append((hdr.REPLAY_OF, original.encode()))
        elif value is not None:  # a status names the document in its value
            decoded = self.schemas.decode(value)
            if decoded is not None and "document_id" in decoded[1]:
                schema_id, status = decoded
                status["document_id"] = new_id
                body = io.BytesIO()
                fastavro.schemaless_writer(body, self.schemas.parsed(schema_id), status)
                value = value[:5] + body.getvalue()
        if key == original.encode():
            key = new_id.encode()
        return key, value, out

    # ---- the ledger ----------------------------------------------------------------------------
    def _ledger_key(self) -> bytes:
        return f"{self.info.capture_id}|{self.config.salt}|{self.config.rewrite_ids}".encode()

    def _target(self, record: CapturedRecord) -> str:
        return self.target(record.topic)

    def target(self, topic: str) -> str:
        """Where a record of ``topic`` goes: ``--topic-map``, else ``--into-run``'s topic of
        the same family, else ``topic`` itself."""
        mapped = self.config.topic_map.get(topic)
        if mapped is not None:
            return mapped
        if self.config.into_run is not None:
            return TopicNames.retarget(topic, self.config.into_run)
        return topic

    async def _ledger_read(self, broker: BrokerConfig) -> set[tuple[int, int, str]]:
        """(loop, record index, destination topic) of every record an earlier replay of this
        capture sent (with the same salt and id rewriting): the ledger is keyed by capture and
        destination, so the same capture into other topics (``--topic-map``) is sent again.
        An entry without its topic (written before topics were noted) meant the record's
        own topic."""
        # one partition, whatever --partitions says: every replay into the cluster shares it
        # (a second replay asking for more would have to widen it, which Tansu cannot)
        await create_topics(dataclasses.replace(broker, partitions=LEDGER_PARTITIONS),
                            [self.config.ledger_topic])
        consumer = AIOKafkaConsumer(**{**broker.consumer_kwargs("unused"), "group_id": None})
        await consumer.start()
        done: set[tuple[int, int, str]] = set()
        topic_of = {r.index: r.topic for r in self.records}
        try:
            found = await topic_partitions(broker, [self.config.ledger_topic])
            partitions = [TopicPartition(self.config.ledger_topic, p)
                          for p in found.get(self.config.ledger_topic, [])]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            remaining = {tp for tp in partitions if end[tp] > 0}
            deadline = time.monotonic() + 30
            while remaining and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=100, max_records=5000)
                for tp, records in batch.items():
                    for r in records:
                        if r.key == self._ledger_key() and r.value:
                            entry = json.loads(r.value)
                            done.update((item[0], item[1], item[2] if len(item) > 2
                                         else topic_of.get(item[1], ""))
                                        for item in entry["sent"])
                        if r.offset + 1 >= end[tp]:
                            remaining.discard(tp)
        finally:
            await consumer.stop()
        return done

    # ---- sending -------------------------------------------------------------------------------
    def dry_run(self) -> ReplayResult:
        result = ReplayResult()
        for item in self.plan(result):
            result.by_topic[self._target(item.record)] += 1
        return result

    async def run(self) -> ReplayResult:
        if self.broker is None:
            raise ConfigError("replay needs a broker (--bootstrap) unless --dry-run")
        broker = self.broker
        result = ReplayResult()
        planned = self.plan(result)
        already = await self._ledger_read(broker) if self.config.use_ledger else set()
        targets = sorted({self._target(p.record)
                          for p in planned})
        await self._create_targets(broker, planned, targets)
        producer = TrackingProducer.for_broker(broker)
        await producer.start()
        try:
            same_partitions = {}
            for source, count in self.info.topics.items():
                target = self.target(source)
                found = await producer.partitions_for(target) if target in targets else set()
                same_partitions[source] = len(found) == count
            await self._send(producer, planned, already, same_partitions, result)
        finally:
            await producer.stop()
        log.info("replay_finished", **{k: v for k, v in result.to_json().items()
                                       if not isinstance(v, dict)})
        return result

    async def _create_targets(self, broker: BrokerConfig, planned: list[PlannedRecord],
                              targets: list[str]) -> None:
        """Missing destination topics get the partition count of the topic they replay
        (``--partitions`` overrides it), so records keep their original partition."""
        counts: dict[str, int] = {}
        for item in planned:
            source = item.record.topic
            counts.setdefault(self._target(item.record), self.config.partitions
                              or self.info.topics.get(source, broker.partitions))
        for count in sorted(set(counts.values())):
            await create_topics(dataclasses.replace(broker, partitions=count),
                                [t for t in targets if counts.get(t) == count])

    async def _send(self, producer: AIOKafkaProducer, planned: list[PlannedRecord],
                    already: set[tuple[int, int, str]], same_partitions: dict[str, bool],
                    result: ReplayResult) -> None:
        pending: list[tuple[asyncio.Future[Any], tuple[int, int, str]]] = []
        start = time.monotonic_ns()
        try:
            await self._send_planned(producer, planned, already, same_partitions, result,
                                     pending, start)
            last = pending[:]
            pending.clear()
            await self._acknowledge(producer, last)  # a failed send fails the replay
        finally:  # interrupted or failed: note what Kafka did acknowledge before leaving
            await self._acknowledge(producer, pending, tolerate_failures=True)

    async def _send_planned(self, producer: AIOKafkaProducer, planned: list[PlannedRecord],
                            already: set[tuple[int, int, str]], same_partitions: dict[str, bool],
                            result: ReplayResult,
                            pending: list[tuple[asyncio.Future[Any], tuple[int, int, str]]],
                            start: int) -> None:
        for n, item in enumerate(planned):
            ident = (item.loop, item.record.index, self._target(item.record))
            if ident in already:
                result.skipped_already_replayed += 1
                continue
            target_ns = start + int(item.at_ms * 1_000_000)
            delay = target_ns - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            record = item.record
            key, value, headers = self._rewrite(record, item.loop)
            if self.config.fresh_timestamps:  # sent now: the document's lgsp-sent too
                headers = _sent_now(headers)
            topic = self._target(record)
            future = await producer.send(
                topic, value=value, key=key,
                partition=record.partition if same_partitions.get(record.topic) else None,
                timestamp_ms=None if self.config.fresh_timestamps else record.timestamp_ms,
                headers=headers)
            result.timing_error.record_ns(max(time.monotonic_ns() - target_ns, 0))
            result.sent += 1
            result.by_topic[topic] += 1
            pending.append((future, ident))
            result.actual_duration_s = (time.monotonic_ns() - start) / 1e9
            if len(pending) >= 500:
                batch = pending[:]
                pending.clear()
                await self._acknowledge(producer, batch)
            if self.progress is not None and n % 500 == 0:
                self.progress(n, len(planned))

    async def _acknowledge(self, producer: AIOKafkaProducer,
                           pending: list[tuple[asyncio.Future[Any], tuple[int, int, str]]], *,
                           tolerate_failures: bool = False) -> None:
        """Await the sends, then note the acknowledged ones in the ledger (so a crash never
        skips unsent ones, and what was sent is not sent again)."""
        if not pending:
            return
        outcomes = await asyncio.gather(*(f for f, _ in pending), return_exceptions=True)
        sent = [i for (_, i), o in zip(pending, outcomes, strict=True)
                if not isinstance(o, BaseException)]
        if sent and self.config.use_ledger and self.broker is not None:
            entry = json.dumps({"sent": [list(i) for i in sent],
                                "id": uuid.uuid4().hex}).encode()
            await (await producer.send(self.config.ledger_topic, value=entry,
                                       key=self._ledger_key()))
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures and not tolerate_failures:
            raise failures[0]



def _sent_now(headers: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    """``headers`` with a document's ``lgsp-sent`` (unix µs) set to now (``--timestamps
    fresh``): measured from it, the bus's latencies are the replay's, not the recording's."""
    now = str(time.time_ns() // 1000).encode()
    return [(k, now if k == hdr.SENT else v) for k, v in headers]
