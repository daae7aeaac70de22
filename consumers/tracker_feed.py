"""A delivery tracker in its own process, fed from the bus — and rebuilt from it after a crash.

The feed reads the senders' ledger (``lgsp.bus.ledger``: what was sent, to whom, when it was
intended, with which fault) and the statuses on the ``deliver`` partitions of its shard, and hands
both to a ``DeliveryTracker``. It never commits offsets: a tracker killed with SIGKILL is started
again, reads both from offset 0 and rebuilds the same state. Records written before the restart
are timed by their Kafka timestamp (the moment the router handed the status to the sender's
platform, ms) instead of their second arrival, so rebuilt latencies are the ones the bus had;
and the tracker declares nothing lost until it has caught up with the log as it was at the
restart.

A status can come before the ledger entry of its document (two partitions, two fetches): it waits
("parked") until the entry comes. Parked statuses still without a delivery at the end of the run
are counted as ``unknown_or_finished``, as the in-process tracker counts them at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import structlog
from aiokafka import ConsumerRecord, TopicPartition

from consumers.tracker import DeliveryTracker
from lgsp.bus import headers
from lgsp.bus.consume_loop import Futures
from lgsp.bus.ledger import END, EXPECT, REFUSED, SEND_FAILED, LedgerEntry
from lgsp.codec.events import EventCodec
from lgsp.domain.status import StatusEvent

log = structlog.get_logger(__name__)


class SendFailedOnLedger(Exception):
    """A send failure reported by the sender through the ledger (the error itself is logged
    there)."""


class TrackerFeed:
    """Feeds ``tracker`` from the ledger topic and the deliver topics of one shard."""

    def __init__(self, tracker: DeliveryTracker, events: EventCodec, *, ledger_topic: str,
                 ledger_partitions: Iterable[int],
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.tracker = tracker
        self.events = events
        self.ledger_topic = ledger_topic
        self.ledger_partitions = frozenset(ledger_partitions)
        self.clock = clock
        self._replay_until: dict[TopicPartition, int] = {}
        self._restarted_ms: int | None = None
        self._monotonic_minus_wall_ns = time.monotonic_ns() - time.time_ns()
        self._last_seq: dict[int, int] = {}
        self._ended: set[int] = set()
        self._parked: dict[str, list[tuple[StatusEvent, int]]] = {}
        self.replayed = 0
        self.ledger_duplicates = 0

    def replay_from(self, ends: Mapping[TopicPartition, int]) -> None:
        """After a restart, before reading: ``ends`` are the partitions' end offsets now.

        Statuses written before this moment are timed by their own timestamps; until every
        partition has been read up to its end, nothing is declared lost. (The embedded broker
        can report an end offset short by the rest of the last batch; that batch is handled in
        the same fetch, before any sweep can run.)"""
        self._restarted_ms = time.time_ns() // 1_000_000
        self._replay_until = {tp: end for tp, end in ends.items() if end > 0}
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
        replayed = self._restarted_ms is not None and record.timestamp < self._restarted_ms
        try:
            if record.topic == self.ledger_topic:
                self._on_ledger(record.partition, LedgerEntry.decode(record.value))
            else:
                at = (record.timestamp * 1_000_000 + self._monotonic_minus_wall_ns if replayed
                      else self.clock())
                self._on_deliver(record, at)
        finally:
            self.replayed += replayed
            tp = TopicPartition(record.topic, record.partition)
            if tp in self._replay_until and record.offset + 1 >= self._replay_until[tp]:
                del self._replay_until[tp]
                if not self._replay_until:
                    log.info("tracker_caught_up", replayed=self.replayed,
                             pending=self.tracker.pending, parked=self.parked)

    def _on_ledger(self, partition: int, entry: LedgerEntry) -> None:
        if entry.seq <= self._last_seq.get(partition, 0):
            self.ledger_duplicates += 1  # a batch the sender's producer retried
            return
        self._last_seq[partition] = entry.seq
        if entry.kind == EXPECT:
            self.tracker.expect(entry, entry.intended_ns)
            if entry.fault is not None:
                self.tracker.injected(entry, entry.fault, entry.waiting)
            for status, at in self._parked.pop(entry.document_id, ()):
                self.tracker.on_status(status, at)
        elif entry.kind == REFUSED and entry.fault is not None:
            self.tracker.detected_at_send(entry.fault, entry.how)
        elif entry.kind == SEND_FAILED:
            self.tracker.send_failed(entry, SendFailedOnLedger("reported by the sender"))
        elif entry.kind == END:
            self._ended.add(partition)

    def _on_deliver(self, record: ConsumerRecord[bytes, bytes], at: int) -> None:
        if headers.parse(record.headers).kind != headers.STATUS:
            return  # documents are the recipients' to take in
        status = self.events.decode_status(record.value)
        if self.tracker.tracks(status.document_id, status.recipient):
            self.tracker.on_status(status, at)
        else:
            self._parked.setdefault(status.document_id, []).append((status, at))

    def finish(self) -> None:
        """End of run: statuses that never found their delivery."""
        left = self.parked
        if left:
            self.tracker.metrics.unexpected_statuses["unknown_or_finished"] += left
            log.info("parked_statuses_unmatched", count=left)
        self._parked.clear()
