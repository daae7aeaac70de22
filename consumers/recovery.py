"""What a restarted recipient worker must know: the statuses its agencies already sent.

Recipients commit a document's offset once its 01 (or 01 + 02) is acknowledged, and send 03..06
later. A recipient worker killed with SIGKILL loses its memory of which documents it took in and
where each lifecycle stood. Its statuses, though, are on the bus: every status a recipient sends
goes to its home platform's inbound topic. Before consuming again, the new worker reads those
topics from the start and keeps, per (DocumentId, recipient), the statuses already sent — so a
redelivered document is absorbed as a duplicate, and each unfinished lifecycle resumes at the next
step instead of starting over (no status is sent twice).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from lgsp.bus import headers
from lgsp.bus.admin import topic_partitions
from lgsp.bus.holes import HoleGuard
from lgsp.codec.events import EventCodec
from lgsp.config import BrokerConfig
from lgsp.domain.status import StatusCode, StatusEvent
from lgsp.errors import BrokerError, LgspError

log = structlog.get_logger(__name__)

SCAN_TIMEOUT_S = 60.0


@dataclass(slots=True)
class SentStatuses:
    """What one recipient already answered about one document."""

    sender: str
    topic: str
    """Where its statuses go (the document's topic generation)."""
    codes: list[StatusCode] = field(default_factory=list)
    trace: headers.TraceContext | None = None
    """The trace context of the last status sent (when the run traces): the statuses of a
    resumed lifecycle are its children, in the document's trace."""

    @property
    def finished(self) -> bool:
        return StatusCode.COMPLETED in self.codes or StatusCode.REJECTED in self.codes


async def statuses_sent(broker: BrokerConfig, topics: list[str], events: EventCodec,
                        mine: Callable[[str], bool],
                        genuine: Callable[[StatusEvent], bool] | None = None,
                        ) -> dict[tuple[str, str], SentStatuses]:
    """Every business status recipients ``mine`` sent on ``topics`` (read to their end now);
    with ``genuine``, only those it passes (a run that seals statuses leaves out the forged 06
    of the ``forged-status`` fault: it did not end the lifecycle)."""
    consumer = AIOKafkaConsumer(**broker.consumer_kwargs(None))
    found: dict[tuple[str, str], SentStatuses] = {}
    started = time.monotonic()
    try:
        async with asyncio.timeout(SCAN_TIMEOUT_S):
            await consumer.start()
            # the consumer's own metadata knows no topic yet on Apache Kafka (its bootstrap
            # asks for none), and naming a missing generation would create it
            partitions = [TopicPartition(t, p) for t, found in
                          (await topic_partitions(broker, topics)).items() for p in found]
            if not partitions:
                return found
            consumer.assign(partitions)
            for tp in partitions:
                consumer.seek(tp, 0)
            ends = await consumer.end_offsets(partitions)
            left = {tp for tp in partitions if ends[tp] > 0}
            # other recipients write on while it reads: never step over a hole (lgsp.bus.holes)
            guard = HoleGuard(lambda: consumer, "recipient read-back")
            read_to = dict.fromkeys(partitions, 0)
            while left:
                batch = guard.take(await consumer.getmany(*left, timeout_ms=200), read_to.get)
                for tp, records in batch.items():
                    for record in records:
                        _note(found, record.topic, record.headers, record.value, events, mine,
                              genuine)
                    if records:
                        read_to[tp] = records[-1].offset + 1
                    if records and records[-1].offset + 1 >= ends[tp]:
                        left.discard(tp)
                left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    except TimeoutError:
        raise BrokerError(f"reading back the recipients' statuses on {topics} took over "
                          f"{SCAN_TIMEOUT_S:.0f} s") from None
    finally:
        await consumer.stop()
    log.info("recipient_statuses_recovered", topics=topics, deliveries=len(found),
             unfinished=sum(not s.finished for s in found.values()),
             took_s=round(time.monotonic() - started, 3))
    return found


def _note(found: dict[tuple[str, str], SentStatuses], topic: str,
          raw_headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
          value: bytes | None, events: EventCodec, mine: Callable[[str], bool],
          genuine: Callable[[StatusEvent], bool] | None) -> None:
    try:
        routing = headers.parse(raw_headers)
        if routing.kind != headers.STATUS or routing.trace or not mine(routing.from_code):
            return  # not a status fresh from one of our recipients (forwarded ones have a trace)
        status = events.decode_status(value or b"")
    except LgspError:
        return
    if status.status_code is None or (genuine is not None and not genuine(status)):
        return
    key = (status.document_id, status.recipient)
    sent = found.get(key)
    if sent is None:
        sent = found[key] = SentStatuses(sender=status.sender, topic=topic)
    sent.codes.append(status.status_code)
    sent.trace = routing.context or sent.trace
