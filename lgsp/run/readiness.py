"""Waiting, bounded, until each external party answers (``--external``).

Before the schedule starts the run sends each external recipient a probe (``producers.probe``):
a real, validly signed document delivered on its platform's ``deliver`` topic. The recipient is
ready once any status about its probe comes back on its platform's ``inbound`` topic (01 — or
02, if it refuses it: it is up either way). A probe is sent again every ``RESEND_S`` until then
(a service that started reading from the end of the topic sees the next one; a conforming service
absorbs the repeats). No answer within ``--external-timeout`` ends the run before any load, with
the parties that did not answer.

An outside router (``--external platform=…``/``vdxp``) gets a probe document submitted on its
inbound topic, from one member of its platform to another (``producers.probe``); it is ready
once a status about it comes back on its deliver topic: routed there, answered by lgsp-sim's
recipient, routed back.
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
from producers.probe import platform_probe_envelope, probe_envelope
from producers.sender import Envelope

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


@dataclass(frozen=True, slots=True)
class _Party:
    """One external party to probe: where its probe goes and where its answer comes."""

    name: str
    """An agency code (a recipient) or a platform code (a router)."""
    answers_on: str
    """The topic a status about its probe comes back on."""
    reads: str
    """The topic its service must read (named when it does not answer)."""
    router: bool = False


async def wait_until_ready(*, parties: ExternalParties, topology: Topology, topics: TopicNames,
                           broker: BrokerConfig, pki: Pki, events: EventCodec,
                           on_resend: Resent = lambda _code, _left_s: None) -> Readiness:
    """Probe every external party until each answers; raise ``ExternalNotReady`` after
    ``parties.ready_timeout_s``. ``on_resend(party, seconds left)``: a probe is sent again."""
    waiting = [_Party(code, topics.inbound(topology.agency(code).platform),
                      topics.deliver(topology.agency(code).platform))
               for code in parties.recipients]
    waiting += [_Party(platform, topics.deliver(platform), topics.inbound(platform), router=True)
                for platform in parties.platforms]
    watched = sorted({party.answers_on for party in waiting})
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
            return await _probe(waiting, parties, producer, consumer, topology=topology,
                                topics=topics, pki=pki, events=events, on_resend=on_resend)
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


async def _probe(waiting: list[_Party], parties: ExternalParties, producer: AIOKafkaProducer,
                 consumer: AIOKafkaConsumer, *, topology: Topology, topics: TopicNames,
                 pki: Pki, events: EventCodec, on_resend: Resent) -> Readiness:
    timeout_s = parties.ready_timeout_s
    began = time.monotonic()
    deadline = began + timeout_s
    probes: dict[str, _Party] = {}  # DocumentId → whose probe
    answered: dict[str, float] = {}
    sent = 0
    probed: set[str] = set()
    next_send = began
    today = dt.datetime.now(dt.UTC).date()
    while len(answered) < len(waiting):
        now = time.monotonic()
        if now > deadline:
            silent = [p for p in waiting if p.name not in answered]
            raise ExternalNotReady(
                f"no answer from external {_names(silent)} within {timeout_s:g} s "
                f"(--external-timeout): its service must read "
                f"{', '.join(sorted({p.reads for p in silent}))} and "
                + ("route the probe document and its statuses (docs/contract.md §10)"
                   if all(p.router for p in silent) else "answer the probe document with a "
                   "status (docs/contract.md, 'External parties')")
                + f" — is it running, with --run-id {topics.run_id}?")
        if now >= next_send:
            for party in waiting:
                if party.name in answered:
                    continue
                if party.name in probed:
                    on_resend(party.name, deadline - now)
                probed.add(party.name)
                sent += 1
                envelope = await asyncio.to_thread(
                    _envelope, party, topology=topology, pki=pki, events=events, topics=topics,
                    number=sent, today=today, external=parties.recipient_set)
                probes[headers.parse(envelope.headers).document_id] = party
                await producer.send_and_wait(envelope.topic, envelope.value, key=envelope.key,
                                             headers=envelope.headers)
                log.info("external_probe_sent", party=party.name, topic=envelope.topic)
            next_send = now + RESEND_S
        batch = await consumer.getmany(timeout_ms=POLL_MS)
        for records in batch.values():
            for record in records:
                who = _answer(record.topic, record.headers, record.value, probes, events)
                if who is not None and who not in answered:
                    answered[who] = time.monotonic() - began
                    log.info("external_ready", party=who, after_s=round(answered[who], 3))
    return Readiness(answered, sent)


def _names(parties: list[_Party]) -> str:
    routers = [p.name for p in parties if p.router]
    recipients = [p.name for p in parties if not p.router]
    said = ([f"recipient {', '.join(recipients)}"] if recipients else []) \
        + ([f"router of {', '.join(routers)}"] if routers else [])
    return " and ".join(said)


def _envelope(party: _Party, *, topology: Topology, pki: Pki, events: EventCodec,
              topics: TopicNames, number: int, today: dt.date,
              external: frozenset[str]) -> Envelope:
    if party.router:
        return platform_probe_envelope(topology=topology, pki=pki, events=events,
                                       inbound_topic=topics.inbound(party.name),
                                       platform=party.name, number=number, today=today,
                                       external=external)
    return probe_envelope(topology=topology, pki=pki, events=events,
                          deliver_topic=party.reads, recipient=party.name, number=number,
                          today=today)


def _answer(topic: str, raw_headers: Sequence[tuple[str, bytes | None]], value: bytes | None,
            probes: dict[str, _Party], events: EventCodec) -> str | None:
    """The external party a record answers a probe for, or None: for a recipient, a status
    from it about its probe on its platform's inbound topic; for a router, a status about its
    probe on its platform's deliver topic (it went through the router both ways)."""
    try:
        routing = headers.parse(raw_headers)
    except DeliveryError:
        return None
    party = probes.get(routing.document_id)
    if routing.kind != headers.STATUS or party is None or value is None \
            or topic != party.answers_on:
        return None
    if party.router:
        return party.name
    try:
        status = events.decode_status(value)
    except DecodeError:
        return None
    return party.name if status.recipient == party.name else None
