"""A bus-only run (``lgsp simulate --bus-only``): the bus without its senders.

Routers, recipient agents and a delivery tracker serve the run's topics while someone else
submits the documents — ``lgsp replay`` of a capture (``--into-run``), or an outside sender
writing to ``lgsp.<run>.<platform>.inbound`` by the contract. Nothing is *expected*: the tracker
learns of each document when a router of this run sees it submitted (a document record without a
trace entry) and registers its deliveries then, so its statuses are the run's own, not foreign.

A seen document's send time, on which send→01 and send→06 are measured, is its ``lgsp-sent``
header; else (a replay keeps the recorded header, so it predates this run) the record's Kafka
timestamp (``lgsp replay --timestamps fresh``: when the replay sent it); else the moment the
router read it. The report says how many were timed each way (``bus_only.timed_by``).

The run ends on the first of: ``--duration`` after it began listening, ``--idle`` without a new
submission after the first one, Ctrl-C — or, with no ``--duration``, ``NOTHING_CAME_S`` without
any submission. Then the lifecycles still open settle (bounded by ``--settle-timeout``) before
the report; submissions seen while they settle are tracked too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import structlog
from aiokafka import ConsumerRecord

from consumers.tracker import DeliveryTracker
from lgsp.bus import headers
from lgsp.domain.status import StatusEvent, StatusLayer
from lgsp.domain.topology import Topology
from lgsp.metrics.run import RunMetrics
from lgsp.run.config import NOTHING_CAME_S, BusOnly

log = structlog.get_logger(__name__)

CLOCK_SKEW_US = 5_000_000
"""A send time this much before the run began listening (or after now) is still believed: the
sender's clock may be a little off. Older ones are a replay's recorded times."""


class TimedBy(StrEnum):
    """Where a seen document's send time came from."""

    LGSP_SENT = "lgsp_sent"
    """The sender's ``lgsp-sent`` header (µs)."""
    RECORD_TIMESTAMP = "record_timestamp"
    """The submission record's Kafka timestamp (ms)."""
    READ_AT_ROUTER = "read_at_router"
    """Neither was of this run's time: when this run's router read the submission."""


class Ending(StrEnum):
    """Why a bus-only run stopped listening."""

    DURATION = "duration"
    IDLE = "idle"
    NOTHING_CAME = "nothing_came"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class SeenDocument:
    """A document a router of this run saw submitted: what the tracker needs to expect it."""

    document_id: str
    sender: str
    recipients: tuple[str, ...]


def send_time_us(routing: headers.Routing, timestamp_ms: int, *, now_us: int,
                 since_us: int) -> tuple[int, TimedBy]:
    """A submission's send time (unix µs) and where it came from (see the module docstring)."""
    def believable(at_us: int) -> bool:
        return since_us - CLOCK_SKEW_US <= at_us <= now_us + CLOCK_SKEW_US

    if routing.sent_us is not None and believable(routing.sent_us):
        return routing.sent_us, TimedBy.LGSP_SENT
    if timestamp_ms >= 0 and believable(timestamp_ms * 1000):
        return timestamp_ms * 1000, TimedBy.RECORD_TIMESTAMP
    return now_us, TimedBy.READ_AT_ROUTER


class SubmissionWatch:
    """Between a bus-only run's routers and its tracker: registers each document a router sees
    submitted, counts the statuses that come back, and says when the run should end."""

    def __init__(self, tracker: DeliveryTracker, metrics: RunMetrics, topology: Topology,
                 settings: BusOnly) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self.topology = topology
        self.settings = settings
        self.began_ns = time.monotonic_ns()
        self.began_us = time.time_ns() // 1000
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.ended_by: Ending | None = None

    @property
    def documents(self) -> int:
        return self.metrics.seen["documents"]

    def begin(self) -> None:
        """The run is listening from now (the coordinator's start): windows count from here."""
        self.began_ns = time.monotonic_ns()
        self.began_us = time.time_ns() // 1000

    def on_submission(self, routing: headers.Routing,
                      record: ConsumerRecord[bytes, bytes]) -> None:
        """A router of this run read a document record with no trace entry: a submission."""
        now_ns = time.monotonic_ns()
        self.first_ns = self.first_ns or now_ns
        self.last_ns = now_ns
        if self.tracker.knows(routing.document_id):
            self.metrics.record_seen("submitted_again")  # a duplicate; recipients absorb it
            return
        now_us = time.time_ns() // 1000
        sent_us, timed_by = send_time_us(routing, record.timestamp, now_us=now_us,
                                         since_us=self.began_us)
        intended_ns = now_ns - (now_us - sent_us) * 1000
        document = SeenDocument(routing.document_id, routing.from_code, routing.to)
        self.tracker.expect(document, intended_ns)
        sender = self.topology.agencies.get(routing.from_code)
        self.metrics.record_document(sender.tier if sender else "unknown", len(routing.to))
        self.metrics.record_seen("documents")
        self.metrics.record_seen("deliveries", len(routing.to))
        self.metrics.record_seen(f"timed_by|{timed_by.value}")

    def on_status(self, status: StatusEvent, now_ns: int) -> None:
        """A status addressed to a (replayed or outside) sender: counted by code, then tracked."""
        self.metrics.record_seen(f"statuses|{_label(status)}")
        self.tracker.on_status(status, now_ns)

    def due_to_end(self, now_ns: int | None = None) -> Ending | None:
        """Why the run should stop listening now, or None."""
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        window = self.settings.window_s
        if window is not None and now_ns - self.began_ns >= window * 1e9:
            return Ending.DURATION
        if self.last_ns is not None and now_ns - self.last_ns >= self.settings.idle_s * 1e9:
            return Ending.IDLE
        if window is None and self.first_ns is None \
                and now_ns - self.began_ns >= NOTHING_CAME_S * 1e9:
            return Ending.NOTHING_CAME
        return None

    def facts(self) -> dict[str, object]:
        """What the report says of the run's end (``bus_only`` section)."""
        return {"ended_by": self.ended_by.value if self.ended_by else None,
                "listened_s": round((time.monotonic_ns() - self.began_ns) / 1e9, 3),
                "first_document_after_s": None if self.first_ns is None
                else round((self.first_ns - self.began_ns) / 1e9, 3)}


def _label(status: StatusEvent) -> str:
    """``01``, ``02`` or ``FAIL``: the code a status is counted under (reasons are counted in
    ``rejections`` and ``undeliverable_reasons``)."""
    if status.layer is StatusLayer.TRANSPORT:
        return status.transport_state.value if status.transport_state else "TRANSPORT"
    return status.status_code.value if status.status_code else "no code"
