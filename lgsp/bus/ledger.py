"""The senders' ledger: what a tracker in another process needs to know of what was sent.

In a crash-tolerant run (``--bus-workers``) the delivery tracker runs in its own process, so it
can be killed and started again. It learns what to expect from ``lgsp.<run>.ledger``: one JSON
record per submitted document (its recipients, its intended send time, the fault it carries),
per refusal at send, per failed send, and an ``end`` mark on each of a sender's partitions once
its schedule is done. Records are keyed by the sending agency, so they land on the partitions of
the shard that owns it — the same partitions as the statuses coming back to it.

A restarted tracker reads the ledger and its statuses again from its last checkpoint (or offset
0) and rebuilds exactly what it knew. Each record carries the writer's sequence number: a batch
the producer retried after a lost acknowledgement appears twice in the log, and the second copy
is skipped.
``intended_ns`` is on the host's monotonic clock (CLOCK_MONOTONIC is one clock for every process
of a host; a tracker always runs on its sender's host).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

import structlog
from aiokafka.errors import KafkaError

from lgsp.bus.producer import TrackingProducer
from lgsp.errors import BrokerError, DecodeError
from lgsp.faults import FaultKind

log = structlog.get_logger(__name__)

CLOSE_TIMEOUT_S = 10.0


class LedgerKind(StrEnum):
    EXPECT = "expect"
    """A document was submitted: its recipients, intended send time and fault."""
    REFUSED = "refused"
    """A document the sender's own checks refused (with the injected fault it carried)."""
    SEND_FAILED = "send_failed"
    """The sender's producer could not hand a document to Kafka."""
    END = "end"
    """The sender's schedule is over: nothing more will come on this partition."""


class SentDocument(Protocol):
    """What the ledger keeps of a document (a ``Document`` is one)."""

    @property
    def document_id(self) -> str: ...

    @property
    def sender(self) -> str: ...

    @property
    def recipients(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One line of the ledger."""

    seq: int
    kind: LedgerKind
    document_id: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    intended_ns: int = 0
    fault: FaultKind | None = None
    waiting: tuple[str, ...] = ()
    """Recipients that must detect ``fault`` (for ``expect``)."""
    how: str = ""
    """The check that refused a document at send (``refused``), the producer's error
    (``send_failed``)."""

    def encode(self) -> bytes:
        data: dict[str, Any] = {"seq": self.seq, "kind": self.kind.value}
        if self.document_id:
            data |= {"document_id": self.document_id, "sender": self.sender,
                     "recipients": list(self.recipients), "intended_ns": self.intended_ns}
        if self.fault is not None:
            data |= {"fault": self.fault.value, "waiting": list(self.waiting)}
        if self.how:
            data["how"] = self.how
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> LedgerEntry:
        """Raises ``DecodeError`` for anything that is not a ledger entry."""
        try:
            data = json.loads(raw or b"")
            return cls(seq=int(data["seq"]), kind=LedgerKind(data["kind"]),
                       document_id=str(data.get("document_id", "")),
                       sender=str(data.get("sender", "")),
                       recipients=tuple(str(r) for r in data.get("recipients", ())),
                       intended_ns=int(data.get("intended_ns", 0)),
                       fault=FaultKind(data["fault"]) if "fault" in data else None,
                       waiting=tuple(str(r) for r in data.get("waiting", ())),
                       how=str(data.get("how", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DecodeError(f"not a ledger entry: {exc}", reason="invalid_ledger_entry") \
                from None


class LedgerWriter:
    """The sender's side: the tracker callbacks of ``AgencySender``, written to the ledger.

    The callbacks are synchronous (the sender calls them in its hot path); entries are queued and
    one task writes them in order, so a partition's sequence numbers only grow. An entry that
    cannot be written is counted in ``failed``; ``close`` raises if any was lost, because the
    tracker's figures would then be incomplete."""

    def __init__(self, producer: TrackingProducer, topic: str, partitions: Iterable[int]) -> None:
        self.producer = producer
        self.topic = topic
        self.partitions = tuple(partitions)
        """The ledger partitions of this sender's shard (each gets the ``end`` mark)."""
        self._queue: deque[tuple[LedgerEntry, int | None]] = deque()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._seq = 0
        self._unacknowledged: set[asyncio.Future[Any]] = set()
        self._task: asyncio.Task[None] | None = None
        self.failed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._write(), name="ledger writer")

    def _put(self, kind: LedgerKind, partition: int | None = None, **fields: Any) -> None:
        self._seq += 1
        self._queue.append((LedgerEntry(self._seq, kind, **fields), partition))
        self._drained.clear()
        self._wake.set()

    # ---- the sender's callbacks (producers.sender) ---------------------------------------------
    def expect(self, document: SentDocument, intended_ns: int) -> None:
        self._put(LedgerKind.EXPECT, document_id=document.document_id, sender=document.sender,
                  recipients=tuple(document.recipients), intended_ns=intended_ns)

    def injected(self, document: SentDocument, kind: FaultKind, waiting: Iterable[str]) -> None:
        """The fault of the document just expected: rewrites its (still queued) entry."""
        for index in range(len(self._queue) - 1, -1, -1):
            entry, partition = self._queue[index]
            if entry.kind is LedgerKind.EXPECT and entry.document_id == document.document_id:
                self._queue[index] = (dataclasses.replace(entry, fault=kind,
                                                          waiting=tuple(waiting)), partition)
                return
        raise LookupError(f"{document.document_id} was not expected just before its fault")

    def detected_at_send(self, kind: FaultKind, how: str) -> None:
        self._put(LedgerKind.REFUSED, self.partitions[0], fault=kind, how=how)

    def send_failed(self, document: SentDocument, error: BaseException) -> None:
        """Logged by the tracker that reads it."""
        self._put(LedgerKind.SEND_FAILED, document_id=document.document_id,
                  sender=document.sender, recipients=tuple(document.recipients),
                  how=repr(error))

    # ---- writing -------------------------------------------------------------------------------
    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                entry, partition = self._queue.popleft()
                key = entry.sender.encode() if entry.sender else None
                try:
                    future = await self.producer.send(self.topic, value=entry.encode(), key=key,
                                                      partition=partition)
                except KafkaError as exc:
                    self._lost(entry.kind, exc)
                    continue
                self._unacknowledged.add(future)
                future.add_done_callback(partial(self._acknowledged, entry.kind))
            self._drained.set()

    def _acknowledged(self, kind: LedgerKind, future: asyncio.Future[Any]) -> None:
        if future not in self._unacknowledged:  # already counted as lost at the close timeout
            return
        self._unacknowledged.discard(future)
        if future.cancelled():
            self._lost(kind, asyncio.CancelledError())
        elif future.exception() is not None:
            self._lost(kind, future.exception())

    def _lost(self, kind: LedgerKind, error: BaseException | None) -> None:
        self.failed += 1
        log.error("ledger_write_failed", kind=kind.value, error=repr(error))

    async def close(self, *, end: bool = True, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write what is queued (and, with ``end``, the end marks), wait for the broker's
        acknowledgements (bounded) and stop writing; idempotent. With ``end``, raises
        ``BrokerError`` if any entry was lost (the tracker cannot know what was sent)."""
        if self._task is None:
            return
        if end:
            for partition in self.partitions:
                self._put(LedgerKind.END, partition)
        try:
            async with asyncio.timeout(timeout_s):
                await self._drained.wait()
                await asyncio.gather(*self._unacknowledged, return_exceptions=True)
        except TimeoutError:
            unwritten = len(self._queue) + len(self._unacknowledged)
            self._unacknowledged.clear()
            self.failed += unwritten
            log.error("ledger_write_failed", entries=unwritten,
                      error=f"unacknowledged after {timeout_s:.0f} s")
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if end and self.failed:
            raise BrokerError(f"{self.failed} entries of the senders' ledger {self.topic} could "
                              "not be written: the tracker cannot know everything that was sent")
