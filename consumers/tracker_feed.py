"""A delivery tracker in its own process, fed from the bus — and rebuilt from it after a crash.

The feed reads the senders' ledger (``lgsp.bus.ledger``: what was sent, to whom, when it was
intended, with which fault) and the statuses on the ``deliver`` partitions of its shard, and hands
both to a ``DeliveryTracker``. It never commits offsets: a tracker killed with SIGKILL is started
again, restores its last checkpoint (``consumers.tracker_checkpoint``; none yet: from offset 0),
reads both from there and rebuilds the same state. Until it has worked off the backlog
the restart left, statuses are timed by their Kafka timestamp (the moment the router handed them
to the sender's platform, ms) instead of their late arrival, so rebuilt latencies are the ones
the bus had, not the restart's; and the tracker declares nothing lost until it has caught up with
the log as it was at the restart.

A status can come before the ledger entry of its document (two partitions, two fetches): it waits
("parked") until the entry comes; a status about a document already expected goes straight to
the tracker. Parked statuses still without a delivery at the end of the run are about documents
this run never sent (``DeliveryTracker.unmatched``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import ConsumerRecord, TopicPartition

from consumers.conformance import malformed_status
from consumers.tracker import DeliveryTracker
from lgsp.bus import headers
from lgsp.bus.consume_loop import Futures
from lgsp.bus.ledger import LedgerEntry, LedgerKind
from lgsp.bus.tracing import NO_TRACING, Tracing, status_label
from lgsp.codec.events import EventCodec
from lgsp.domain.status import StatusEvent
from lgsp.errors import DecodeError, SendFailed

log = structlog.get_logger(__name__)

LIVE_WITHIN_MS = 250
"""After a restart, a status read within this long of being written (once the log as it was at
the restart has been read) means the tracker is live again: from then on, arrival times."""


@dataclass(frozen=True, slots=True)
class FeedState:
    """What a checkpoint keeps of a feed (``TrackerFeed.decode_state``)."""

    positions: dict[TopicPartition, int]
    last_seq: dict[int, int]
    ended: set[int]
    parked: dict[str, list[tuple[StatusEvent, int]]]


class TrackerFeed:
    """Feeds ``tracker`` from the ledger topic and the deliver topics of one shard."""

    def __init__(self, tracker: DeliveryTracker, events: EventCodec, *, ledger_topic: str,
                 ledger_partitions: Iterable[int],
                 clock: Callable[[], int] = time.monotonic_ns,
                 tracing: Tracing = NO_TRACING) -> None:
        self.tracker = tracker
        self.tracing = tracing
        """A status received is a span (``lgsp.bus.tracing``)."""
        self.events = events
        self.ledger_topic = ledger_topic
        self.ledger_partitions = frozenset(ledger_partitions)
        self.clock = clock
        self._replay_until: dict[TopicPartition, int] = {}
        self._behind: set[TopicPartition] | None = None
        """After a restart: partitions whose statuses are still read late (timed by their own
        timestamps); None: every partition is read as it comes (or there was no restart)."""
        self._monotonic_minus_wall_ns = time.monotonic_ns() - time.time_ns()
        self._last_seq: dict[int, int] = {}
        self._ended: set[int] = set()
        self._parked: dict[str, list[tuple[StatusEvent, int]]] = {}
        self.positions: dict[TopicPartition, int] = {}
        """The next offset to read of every partition read so far (a checkpoint's resume point)."""
        self.replayed = 0
        self.ledger_duplicates = 0

    def replay_from(self, ends: Mapping[TopicPartition, int]) -> None:
        """After a restart, before reading: ``ends`` are the partitions' end offsets now.

        Until every partition has been read up to its end, nothing is declared lost; until the
        tracker reads statuses as they come (``LIVE_WITHIN_MS``), they are timed by their own
        timestamps. (The embedded broker can report an end offset short by the rest of the last
        batch; that batch is handled in the same fetch, before any sweep can run.)"""
        self._behind = {tp for tp in ends if tp.topic != self.ledger_topic}
        self._replay_until = {tp: end for tp, end in ends.items()
                              if end > self.positions.get(tp, 0)}
        log.info("tracker_rebuilding", partitions=len(self._replay_until))

    @property
    def catching_up(self) -> bool:
        """Still reading what was on the bus before a restart (no delivery may be declared lost
        yet: its 01 may be further on)."""
        return bool(self._replay_until)

    @property
    def senders_done(self) -> bool:
        """Every sender of the shard wrote its end mark: nothing more will be expected."""
        return self._ended >= self.ledger_partitions

    @property
    def parked(self) -> int:
        return sum(len(v) for v in self._parked.values())

    async def handle(self, record: ConsumerRecord[bytes, bytes], _futures: Futures) -> None:
        try:
            if record.topic == self.ledger_topic:
                self._on_ledger(record.partition, LedgerEntry.decode(record.value))
            else:
                self._on_deliver(record, self._arrival_ns(record))
        finally:  # a Rejected record goes on to the dead-letter topic (again, if the previous
            # incarnation had sent it after its last checkpoint: at least once, counted once)
            tp = TopicPartition(record.topic, record.partition)
            self.positions[tp] = record.offset + 1
            if tp in self._replay_until and record.offset + 1 >= self._replay_until[tp]:
                del self._replay_until[tp]
                if not self._replay_until:
                    log.info("tracker_caught_up", replayed=self.replayed,
                             pending=self.tracker.pending, parked=self.parked)

    def _arrival_ns(self, record: ConsumerRecord[bytes, bytes]) -> int:
        """When the status arrived: now — or, while its partition is read late after a
        restart, when it was written."""
        behind = self._behind
        tp = TopicPartition(record.topic, record.partition)
        if behind is None or tp not in behind:
            return self.clock()
        if tp in self._replay_until or time.time_ns() // 1_000_000 - record.timestamp \
                > LIVE_WITHIN_MS:
            self.replayed += 1
            return record.timestamp * 1_000_000 + self._monotonic_minus_wall_ns
        behind.discard(tp)
        if not behind:
            self._behind = None
            log.info("tracker_live", replayed=self.replayed)
        return self.clock()

    def _on_ledger(self, partition: int, entry: LedgerEntry) -> None:
        if entry.seq <= self._last_seq.get(partition, 0):
            self.ledger_duplicates += 1  # a batch the sender's producer retried
            return
        self._last_seq[partition] = entry.seq
        if entry.kind is LedgerKind.EXPECT:
            self.tracker.expect(entry, entry.intended_ns)
            if entry.fault is not None:
                self.tracker.injected(entry, entry.fault, entry.waiting)
            for status, at in self._parked.pop(entry.document_id, ()):
                self.tracker.on_status(status, at)
        elif entry.kind is LedgerKind.REFUSED and entry.fault is not None:
            self.tracker.detected_at_send(entry.fault, entry.how)
        elif entry.kind is LedgerKind.SEND_FAILED:
            self.tracker.send_failed(entry, SendFailed(entry.how))
        elif entry.kind is LedgerKind.END:
            self._ended.add(partition)

    def _on_deliver(self, record: ConsumerRecord[bytes, bytes], at: int) -> None:
        routing = headers.parse(record.headers)
        if routing.kind != headers.STATUS:
            return  # documents are the recipients' to take in
        try:
            status = self.events.decode_status(record.value)
        except DecodeError as bad:  # dead-lettered; the user's service is graded on it
            if self.tracker.grader.grades(routing.from_code):
                malformed_status(self.tracker.metrics, routing.from_code, routing.document_id,
                                 bad.reason)
            raise
        self.tracing.process(record, parent=routing.context, document_id=routing.document_id,
                             actor=routing.to[0], status=status_label(status)).end()
        if self.tracker.tracks(status.document_id, status.recipient) \
                or self.tracker.knows(status.document_id):  # in flight, ended, or a probe
            self.tracker.on_status(status, at)
        else:
            self._parked.setdefault(status.document_id, []).append((status, at))

    # ---- checkpoint (consumers.tracker_checkpoint) ---------------------------------------------
    def state(self) -> dict[str, Any]:
        """How far this feed has read and what it holds back (with ``tracker.state()``, all a
        restarted tracker needs to resume from here)."""
        return {"positions": [[tp.topic, tp.partition, offset]
                              for tp, offset in sorted(self.positions.items())],
                "last_seq": {str(p): seq for p, seq in self._last_seq.items()},
                "ended": sorted(self._ended),
                "parked": [[base64.b64encode(self.events.encode_status(status)).decode(), at]
                           for statuses in self._parked.values() for status, at in statuses]}

    def decode_state(self, state: dict[str, Any]) -> FeedState:
        """A checkpointed feed state, decoded (raises ``ValueError``/``KeyError``/``LgspError``;
        nothing is changed until ``restore``)."""
        parked: dict[str, list[tuple[StatusEvent, int]]] = {}
        for raw, at in state["parked"]:
            status = self.events.decode_status(base64.b64decode(raw))
            parked.setdefault(status.document_id, []).append((status, int(at)))
        return FeedState({TopicPartition(topic, partition): int(offset)
                          for topic, partition, offset in state["positions"]},
                         {int(p): int(seq) for p, seq in state["last_seq"].items()},
                         {int(p) for p in state["ended"]}, parked)

    def restore(self, decoded: FeedState) -> None:
        self.positions = dict(decoded.positions)
        self._last_seq = dict(decoded.last_seq)
        self._ended = set(decoded.ended)
        self._parked = {k: list(v) for k, v in decoded.parked.items()}

    def finish(self) -> None:
        """End of run: statuses that never found their delivery."""
        left = self.parked
        if left:  # the senders' ledger is read to its end: none of them was sent by this run
            for statuses in self._parked.values():  # (ambiguous after a restart: see unmatched)
                for status, _at in statuses:
                    self.tracker.unmatched(status)
            self._parked.clear()
            log.info("parked_statuses_unmatched", count=left)
        self._parked.clear()
