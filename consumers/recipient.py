"""Recipient agents: the document software of every member agency of one platform.

For each document delivered: decode and validate (invalid → dead-letter with the reason), absorb a
duplicate (DocumentId, recipient), send 01 (arrived), verify digest, both signatures, the chain,
validity and that the signing agency is the sender (failure → 02 with the reason), then walk
03 → 04 → 05 → 06 with the configured delays. Statuses go to the recipient's home platform and
travel back to the original sender. Status records delivered to this platform's agencies (they
are senders too) are handed to ``on_status`` — the delivery tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord

from lgsp.bus import headers
from lgsp.bus.consume_loop import ConsumeLoop, DeadLetters
from lgsp.bus.routing import route_of
from lgsp.bus.topics import TopicNames
from lgsp.codec.events import EventCodec, SignedDocument
from lgsp.config import BrokerConfig, RecipientConfig, SignaturePolicy
from lgsp.domain.document import Document
from lgsp.domain.status import StatusCode, StatusEvent, StatusLayer
from lgsp.domain.topology import Topology
from lgsp.errors import DecodeError, DeliveryError, SignatureError
from lgsp.metrics.run import RunMetrics
from lgsp.signing.signature import SignatureVerifier

log = structlog.get_logger(__name__)

StatusSink = Callable[[StatusEvent, int], None]


class RecipientAgents:
    """All member agencies of ``platform`` as recipients; an async context manager."""

    def __init__(self, platform: str, *, topology: Topology, topics: TopicNames,
                 broker: BrokerConfig, producer: AIOKafkaProducer, events: EventCodec,
                 verifier: SignatureVerifier, metrics: RunMetrics, dead_letters: DeadLetters,
                 on_status: StatusSink, config: RecipientConfig | None = None) -> None:
        self.platform = platform
        self.topology = topology
        self.topics = topics
        self.producer = producer
        self.events = events
        self.verifier = verifier
        self.metrics = metrics
        self.on_status = on_status
        self.config = config or RecipientConfig()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lifecycles: set[asyncio.Task[None]] = set()
        self.loop = ConsumeLoop(name=f"recipient:{platform}", broker=broker,
                                topic=topics.deliver(platform),
                                group=topics.group("agents", platform), handler=self.handle,
                                dead_letters=dead_letters)

    async def start(self) -> None:
        await self.loop.start()

    async def stop(self) -> None:
        """Stop consuming, then let running lifecycles finish (bounded) before cancelling them."""
        await self.loop.stop()
        if self._lifecycles:
            _done, pending = await asyncio.wait(self._lifecycles, timeout=10)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def __aenter__(self) -> RecipientAgents:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def in_flight(self) -> int:
        return len(self._lifecycles)

    # ---- the chain of stages ---------------------------------------------------------------
    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> list[asyncio.Future[Any]]:
        routing = headers.parse(record.headers)
        if routing.kind == headers.STATUS:
            self.on_status(self.events.decode_status(record.value), time.monotonic_ns())
            return []
        recipient = routing.to[0]
        if self.topology.platform_of(recipient) != self.platform:
            raise DeliveryError(f"{recipient} is not an agency of {self.platform}",
                                reason="unknown_recipient")
        signed = self.events.decode_signed(record.value)
        doc_id, sender = routing.document_id, routing.from_code
        stats = self.metrics.route(route_of(self.topology, sender, recipient))
        key = (doc_id, recipient)
        if key in self._seen:
            stats.duplicates_absorbed += 1
            log.info("duplicate_absorbed", document_id=doc_id, recipient=recipient)
            return []
        try:  # integrity first: never parse content that is not what was signed
            self.verifier.check_digest(signed.content, signed.content_digest)
        except SignatureError as tampered:
            self._remember(key)
            self._count_verification(sender, personal_ok=False, agency_ok=False,
                                     failure=tampered)
            return await self._reject(doc_id, sender, recipient, tampered)
        document = self.events.decode_content(signed)
        self.metrics.content_versions[self.events.content_writer(signed).version] += 1
        if document.document_id != doc_id or document.sender != sender:
            raise DecodeError(f"headers say {doc_id!r} from {sender}, the signed content says "
                              f"{document.document_id!r} from {document.sender}",
                              reason="header_mismatch")
        self._remember(key)
        stats.hops[len(routing.trace)] += 1
        failure = self._verify(signed, document, recipient)
        if failure is not None:
            return await self._reject(doc_id, sender, recipient, failure)
        futures = [await self._send_status(doc_id, sender, recipient, StatusCode.ARRIVED)]
        task = asyncio.create_task(self._lifecycle(doc_id, sender, recipient))
        self._lifecycles.add(task)
        task.add_done_callback(self._lifecycles.discard)
        return futures

    async def _reject(self, doc_id: str, sender: str, recipient: str,
                      failure: SignatureError) -> list[asyncio.Future[Any]]:
        """01 (it did arrive), then 02 with the reason."""
        self.metrics.rejections[failure.reason] += 1
        log.info("document_rejected", document_id=doc_id, recipient=recipient,
                 reason=failure.reason, detail=failure.detail)
        return [await self._send_status(doc_id, sender, recipient, StatusCode.ARRIVED),
                await self._send_status(doc_id, sender, recipient, StatusCode.REJECTED,
                                        reason=failure.reason, description=failure.detail)]

    def _remember(self, key: tuple[str, str]) -> None:
        self._seen[key] = None
        if len(self._seen) > self.config.dedupe_capacity:
            self._seen.popitem(last=False)

    def _verify(self, signed: SignedDocument, document: Document,
                recipient: str) -> SignatureError | None:
        """None when the document is acceptable, else the failure to return with 02."""
        start = time.perf_counter_ns()
        personal_ok = agency_ok = False
        failure: SignatureError | None = None
        try:
            if recipient not in document.recipients:
                raise SignatureError(f"{recipient} is not among the document's recipients",
                                     reason="wrong_recipient")
            if signed.personal_signature is not None:
                self.verifier.verify(signed.personal_signature, signed.content_digest,
                                     sender=document.sender)
                personal_ok = True
            if signed.agency_signature is None:
                raise SignatureError("the agency signature is missing",
                                     reason="missing_agency_signature")
            self.verifier.verify(signed.agency_signature, signed.content_digest,
                                 sender=document.sender)
            agency_ok = True
            if (self.config.signature_policy is SignaturePolicy.REQUIRE_BOTH
                    and signed.personal_signature is None):
                raise SignatureError("the personal signature is missing",
                                     reason="missing_personal_signature")
        except SignatureError as exc:
            failure = exc
        finally:
            self.metrics.verify_cost.record_ns(time.perf_counter_ns() - start)
        self._count_verification(document.sender, personal_ok=personal_ok, agency_ok=agency_ok,
                                 failure=failure)
        return failure

    def _count_verification(self, sender: str, *, personal_ok: bool, agency_ok: bool,
                            failure: SignatureError | None) -> None:
        agency = self.topology.agencies.get(sender)
        tier = agency.tier if agency else "unknown"
        for stats in (self.metrics.signing, self.metrics.tier_signing(tier)):
            stats.verified_documents += 1
            stats.personal_valid += personal_ok
            stats.agency_valid += agency_ok
            stats.legally_valid += personal_ok and agency_ok
            if failure is not None:
                stats.failures[failure.reason] += 1

    async def _lifecycle(self, doc_id: str, sender: str, recipient: str) -> None:
        steps = [StatusCode.REGISTERED, StatusCode.ASSIGNED,
                 *([StatusCode.IN_PROGRESS] * self.config.in_progress_updates),
                 StatusCode.COMPLETED]
        for code in steps:
            await asyncio.sleep(self.config.step_delay_s)
            await self._send_status(doc_id, sender, recipient, code)

    async def _send_status(self, doc_id: str, sender: str, recipient: str, code: StatusCode, *,
                           reason: str | None = None, description: str = ""
                           ) -> asyncio.Future[Any]:
        status = StatusEvent(
            layer=StatusLayer.BUSINESS, from_code=recipient, document_id=doc_id,
            sender=sender, recipient=recipient, timestamp=dt.datetime.now(dt.UTC),
            status_code=code, reason=reason, description=description,
            staff_name="Văn thư", staff_department=self.topology.agencies[recipient].name)
        return await self.producer.send(
            self.topics.inbound(self.platform), value=self.events.encode_status(status),
            key=sender.encode(),
            headers=headers.build(headers.STATUS, doc_id, recipient, (sender,)))
