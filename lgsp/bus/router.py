"""A platform (a province's LGSP, or VDXP) as a stage: consume its inbound topic → route → produce.

The router reads only the headers; the value bytes (signed content) pass through untouched, and
every hop appends a trace entry (and, when tracing, is a span: ``lgsp.bus.tracing``). Unknown
recipients get a transport FAIL status sent back to the original sender by the reverse route.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord

from lgsp.bus import headers
from lgsp.bus.consume_loop import Futures
from lgsp.bus.routing import route_document, route_status
from lgsp.bus.topics import TopicNames
from lgsp.bus.tracing import NO_TRACING, Tracing
from lgsp.codec.events import EventCodec
from lgsp.domain.status import StatusEvent, StatusLayer, TransportState
from lgsp.domain.topology import Topology
from lgsp.errors import DeliveryError
from lgsp.metrics.run import RunMetrics

log = structlog.get_logger(__name__)

SubmissionSink = Callable[[headers.Routing, ConsumerRecord[bytes, bytes]], None]


class PlatformRouter:
    """Routes documents and statuses for one platform (``handle`` one record at a time)."""

    def __init__(self, platform: str, *, topology: Topology, topics: TopicNames,
                 producer: AIOKafkaProducer, events: EventCodec, metrics: RunMetrics,
                 lenient: bool = False, tracing: Tracing = NO_TRACING,
                 on_submission: SubmissionSink | None = None) -> None:
        """``on_submission``: told of every document this platform reads as its sender
        submitted it (no trace entry yet), before it is routed (a bus-only run's tracker)."""
        self.platform = platform
        self.on_submission = on_submission
        self.tracing = tracing
        self.topology = topology
        self.topics = topics
        self.producer = producer
        self.events = events
        self.counts = metrics.platform(platform)
        self.lenient = lenient
        self.topic = topics.inbound(platform)
        """What it reads (a worker's consume loop hands it the records of this topic)."""
    async def handle(self, record: ConsumerRecord[bytes, bytes], futures: Futures) -> None:
        routing = headers.parse(record.headers)
        generation = self.topics.generation_of(record.topic)
        span = self.tracing.process(record, parent=routing.context,
                                    document_id=routing.document_id, actor=self.platform)
        try:
            if routing.kind == headers.DOCUMENT:
                await self._route_document(record, routing, futures, generation, span.context)
            else:
                await self._route_status(record.value, routing, routing.to[0],
                                         came_from=routing.last_hop, futures=futures,
                                         generation=generation, context=span.context)
        finally:
            span.end()

    async def _route_document(self, record: ConsumerRecord[bytes, bytes],
                              routing: headers.Routing, futures: Futures,
                              generation: int | None,
                              context: headers.TraceContext | None) -> None:
        if self.on_submission is not None and not routing.trace:
            self.on_submission(routing, record)
        decision = route_document(self.topology, self.platform, routing.to,
                                  came_from=routing.last_hop, lenient=self.lenient)
        for recipient in decision.local:
            futures.append(await self.producer.send(
                self.topics.deliver(self.platform, generation), value=record.value,
                key=recipient.encode(),
                headers=headers.with_hop(routing, self.platform, (recipient,), context)))
            self.counts["delivered_local"] += 1
        for destination, recipients in decision.forward:
            futures.append(await self.producer.send(
                self.topics.inbound(destination, generation), value=record.value, key=record.key,
                headers=headers.with_hop(routing, self.platform, recipients, context)))
            self.counts["forwarded"] += len(recipients)
        for recipient, reason in decision.failed.items():
            self.counts[f"transport_fail:{reason}"] += 1
            log.info("document_undeliverable", platform=self.platform,
                     document_id=routing.document_id, recipient=recipient, reason=reason)
            fail = StatusEvent(
                layer=StatusLayer.TRANSPORT, from_code=self.platform,
                document_id=routing.document_id, sender=routing.from_code, recipient=recipient,
                timestamp=dt.datetime.now(dt.UTC), transport_state=TransportState.FAIL,
                reason=reason,
                description=f"{self.platform} cannot deliver to {recipient}: {reason}")
            status_routing = headers.Routing(headers.STATUS, routing.document_id, self.platform,
                                             (routing.from_code,), routing.trace,
                                             context=context or routing.context)
            await self._route_status(self.events.encode_status(fail), status_routing,
                                     routing.from_code, came_from=None, futures=futures,
                                     generation=generation, issued=TransportState.FAIL)

    async def _route_status(self, value: bytes, routing: headers.Routing, addressee: str, *,
                            came_from: str | None, futures: Futures,
                            generation: int | None,
                            context: headers.TraceContext | None = None,
                            issued: TransportState | None = None) -> None:
        """Route a status on (``issued``: one this platform issues itself, a span of its own
        when tracing)."""
        route = route_status(self.topology, self.platform, addressee, came_from=came_from)
        if route.failure is not None:
            raise DeliveryError(f"status for {routing.document_id} cannot reach {addressee} from "
                                f"{self.platform}", reason=route.failure)
        if route.next_platform is None:  # deliver here
            self.counts["status_delivered"] += 1
            topic = self.topics.deliver(self.platform, generation)
        else:
            self.counts["status_forwarded"] += 1
            topic = self.topics.inbound(route.next_platform, generation)
        key = addressee.encode()
        span = None
        if issued is not None:
            span = self.tracing.send(topic, key, parent=routing.context,
                                     document_id=routing.document_id, actor=self.platform,
                                     status=issued.value)
            context = span.context
        hop = headers.with_hop(routing, self.platform, (addressee,), context)
        futures.append(await self.producer.send(topic, value=value, key=key, headers=hop))
        if span is not None:
            span.end()
