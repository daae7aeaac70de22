"""Waiting, bounded, until each external recipient answers (``--external``).

Before the schedule starts the run sends each external recipient a probe (``producers.probe``):
a real, validly signed document delivered on its platform's ``deliver`` topic. The recipient is
ready once any status about its probe comes back on its platform's ``inbound`` topic (01 — or
02, if it refuses it: it is up either way). A probe is sent again every ``RESEND_S`` until then
(a service that started reading from the end of the topic sees the next one; a conforming service
absorbs the repeats). No answer within ``--external-timeout`` ends the run before any load, with
the parties that did not answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lgsp.bus import headers
from lgsp.bus.topics import TopicNames
from lgsp.codec.events import EventCodec
from lgsp.config import BrokerConfig
from lgsp.domain.topology import Topology
from lgsp.errors import DecodeError, DeliveryError, LgspError
from lgsp.external import ExternalParties
from lgsp.signing.pki import Pki
from producers.probe import probe_envelope

log = structlog.get_logger(__name__)

RESEND_S = 5.0
"""A probe not answered yet is sent again this often."""
POLL_MS = 200
Resent = Callable[[str, float], None]
"""Told (recipient, seconds left) each time a probe is sent again."""


class ExternalNotReady(LgspError):
    """An external party did not answer its probe in time (exit 1, before any load)."""


@dataclass(frozen=True, slots=True)
class Readiness:
    """How long each external recipient took to answer its first probe, and how many probes."""

    answered_after_s: dict[str, float]
    probes_sent: int


async def wait_until_ready(*, parties: ExternalParties, topology: Topology, topics: TopicNames,
                           broker: BrokerConfig, pki: Pki, events: EventCodec,
                           on_resend: Resent = lambda _code, _left_s: None) -> Readiness:
    """Probe every external recipient until each answers; raise ``ExternalNotReady`` after
    ``parties.ready_timeout_s``. ``on_resend(code, seconds left)``: a probe is sent again."""
    waiting = {code: topology.agency(code).platform for code in parties.recipients}
    watched = sorted({topics.inbound(platform) for platform in waiting.values()})
    producer = AIOKafkaProducer(**broker.producer_kwargs())
    consumer = AIOKafkaConsumer(**{**broker.consumer_kwargs(None), "group_id": None,
                                   "auto_offset_reset": "earliest"})
    await producer.start()
    try:
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for topic in watched
                          for p in range(broker.partitions)]
            consumer.assign(partitions)
            for tp in partitions:
                consumer.seek(tp, 0)  # the run's own topics: read them whole
            return await _probe(waiting, parties.ready_timeout_s, producer, consumer,
                                topology=topology, topics=topics, pki=pki, events=events,
                                on_resend=on_resend)
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


async def _probe(waiting: dict[str, str], timeout_s: float, producer: AIOKafkaProducer,
                 consumer: AIOKafkaConsumer, *, topology: Topology, topics: TopicNames,
                 pki: Pki, events: EventCodec, on_resend: Resent) -> Readiness:
    began = time.monotonic()
    deadline = began + timeout_s
    probes: dict[str, str] = {}  # DocumentId → recipient
    answered: dict[str, float] = {}
    sent = 0
    probed: set[str] = set()
    next_send = began
    today = dt.datetime.now(dt.UTC).date()
    while len(answered) < len(waiting):
        now = time.monotonic()
        if now > deadline:
            silent = sorted(set(waiting) - set(answered))
            raise ExternalNotReady(
                f"no answer from external recipient {', '.join(silent)} within "
                f"{timeout_s:g} s (--external-timeout): its service must read "
                f"{', '.join(sorted({topics.deliver(waiting[c]) for c in silent}))} and answer "
                "the probe document with a status (docs/contract.md, 'External parties')")
        if now >= next_send:
            for recipient, platform in sorted(waiting.items()):
                if recipient in answered:
                    continue
                if recipient in probed:
                    on_resend(recipient, deadline - now)
                probed.add(recipient)
                sent += 1
                envelope = await asyncio.to_thread(
                    probe_envelope, topology=topology, pki=pki, events=events,
                    deliver_topic=topics.deliver(platform), recipient=recipient, number=sent,
                    today=today)
                probes[headers.parse(envelope.headers).document_id] = recipient
                await producer.send_and_wait(envelope.topic, envelope.value, key=envelope.key,
                                             headers=envelope.headers)
                log.info("external_probe_sent", recipient=recipient, topic=envelope.topic)
            next_send = now + RESEND_S
        batch = await consumer.getmany(timeout_ms=POLL_MS)
        for records in batch.values():
            for record in records:
                who = _answer(record.headers, record.value, probes, events)
                if who is not None and who not in answered:
                    answered[who] = time.monotonic() - began
                    log.info("external_ready", recipient=who,
                             after_s=round(answered[who], 3))
    return Readiness(answered, sent)


def _answer(raw_headers: Sequence[tuple[str, bytes | None]], value: bytes | None,
            probes: dict[str, str], events: EventCodec) -> str | None:
    """The external recipient a record answers a probe for, or None."""
    try:
        routing = headers.parse(raw_headers)
    except DeliveryError:
        return None
    if routing.kind != headers.STATUS or routing.document_id not in probes or value is None:
        return None
    try:
        status = events.decode_status(value)
    except DecodeError:
        return None
    recipient = probes[routing.document_id]
    return recipient if status.recipient == recipient else None
