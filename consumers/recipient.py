"""Recipient agents: the document software of every member agency of one platform.

For each document delivered: absorb a duplicate (DocumentId, recipient); check integrity (digest)
before parsing; decode and validate (invalid → 01 + 02 to the sender and the record to the
dead-letter topic, both with the reason); refuse secret documents and wrong recipients; verify both
signatures, the chain, validity, the role of each slot and that the signing agency is the sender
(failure → 01 + 02 with the reason); otherwise send 01 and walk
03 → 04 → 05 → 06 with the configured delays. Statuses go to the recipient's home platform and
travel back to the original sender, each business status sealed by the recipient when the run
requires seals (``consumers.status_sealer``). Status records delivered to this platform's
agencies (they are senders too) are handed to ``on_status`` — the delivery tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from consumers.conformance import malformed_status
from consumers.recovery import SentStatuses
from consumers.status_sealer import StatusSealer
from lgsp.bus import headers
from lgsp.bus.consume_loop import Futures
from lgsp.bus.routing import route_of
from lgsp.bus.topics import TopicNames
from lgsp.bus.tracing import NO_TRACING, Tracing, status_label
from lgsp.codec.events import EventCodec, SignedDocument
from lgsp.config import RecipientConfig, SignaturePolicy
from lgsp.domain.document import Document, Secrecy
from lgsp.domain.status import StatusCode, StatusEvent, StatusLayer
from lgsp.domain.topology import VDXP, Topology
from lgsp.errors import DecodeError, DeliveryError, Rejected, SignatureError
from lgsp.faults import FaultKind
from lgsp.log_limit import LogLimit
from lgsp.metrics.run import RouteOutcome, RunMetrics
from lgsp.recent_keys import RecentKeys, joined
from lgsp.signing.pki import SignatureRole
from lgsp.signing.signature import SignatureBlock, SignatureVerifier

log = structlog.get_logger(__name__)

StatusSink = Callable[[StatusEvent, int], None]
LIFECYCLE_STOP_TIMEOUT_S = 10.0


class RecipientAgents:
    """All member agencies of ``platform`` as recipients; an async context manager."""

    def __init__(self, platform: str, *, topology: Topology, topics: TopicNames,
                 producer: AIOKafkaProducer, events: EventCodec,
                 verifier: SignatureVerifier, metrics: RunMetrics,
                 on_status: StatusSink | None, config: RecipientConfig | None = None,
                 accept_documents: bool = True, tracing: Tracing = NO_TRACING,
                 external: frozenset[str] = frozenset(),
                 sealer: StatusSealer | None = None) -> None:
        """``on_status``: where status records for this platform's agencies go (their senders'
        tracker; None: another process tracks them). ``accept_documents`` False: documents are
        another process's to take in (a worker that only tracks). ``external``: agencies the
        user's own services play (``--external``): their documents are left to them.
        ``sealer``: seals every status sent (a run that requires seals); None: unsealed."""
        self.platform = platform
        self.tracing = tracing
        """A delivery is a span; each status it sends, a child span (``lgsp.bus.tracing``)."""
        self.topology = topology
        self.topics = topics
        self.producer = producer
        self.events = events
        self.verifier = verifier
        self.metrics = metrics
        self.on_status = on_status
        self.accept_documents = accept_documents
        self.external = external
        self.sealer = sealer
        self.config = config or RecipientConfig()
        self._seen = RecentKeys(self.config.dedupe_capacity)
        """(DocumentId, recipient) taken in, to absorb the bus delivering one again."""
        self._lifecycles: set[asyncio.Task[None]] = set()
        self._stop_timeout_s = LIFECYCLE_STOP_TIMEOUT_S
        self._send_failures_logged = LogLimit()
        """A broker outage fails every lifecycle at once: one line a second, with a count."""
        self.topic = topics.deliver(platform)
        """What it reads (a worker's consume loop hands it the records of this topic)."""
    async def stop(self) -> None:
        """After the consume loop stopped: let running lifecycles finish (bounded), then cancel
        what is left."""
        if self._lifecycles:
            _done, pending = await asyncio.wait(self._lifecycles, timeout=self._stop_timeout_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # ---- the chain of stages ---------------------------------------------------------------
    async def handle(self, record: ConsumerRecord[bytes, bytes], futures: Futures) -> None:
        routing = headers.parse(record.headers)
        if routing.kind == headers.STATUS:
            if self.on_status is not None:
                try:
                    status = self.events.decode_status(record.value)
                except DecodeError as bad:  # dead-lettered; the user's service is graded on it
                    if routing.from_code in self.external:
                        malformed_status(self.metrics, routing.from_code, routing.document_id,
                                         bad.reason)
                    raise
                self.tracing.process(record, parent=routing.context,
                                     document_id=routing.document_id, actor=routing.to[0],
                                     status=status_label(status)).end()
                self.on_status(status, time.monotonic_ns())
            return
        if not self.accept_documents:
            return
        span = self.tracing.process(record, parent=routing.context,
                                    document_id=routing.document_id, actor=routing.to[0])
        try:
            await self._take_in(record, routing, futures, span.context)
        finally:
            span.end()

    async def _take_in(self, record: ConsumerRecord[bytes, bytes], routing: headers.Routing,
                       futures: Futures, trace: headers.TraceContext | None) -> None:
        """Dedupe, decode, verify and answer one document delivered to ``routing.to[0]``
        (its status spans are children of ``trace``)."""
        recipient = routing.to[0]
        if recipient in self.external:
            return  # the user's service takes it in and answers (graded by the tracker)
        if self.topology.platform_of(recipient) != self.platform:
            raise DeliveryError(f"{recipient} is not an agency of {self.platform}",
                                reason="unknown_recipient")
        doc_id, sender = routing.document_id, routing.from_code
        # statuses travel in the topic generation of their document (see lgsp.bus.topics)
        status_topic = self.topics.inbound(self.platform, self.topics.generation_of(record.topic))
        route = route_of(self.topology, sender, recipient)
        key = joined(doc_id, recipient)
        if key in self._seen:
            self.metrics.record_outcome(route, RouteOutcome.DUPLICATES_ABSORBED)
            log.info("duplicate_absorbed", document_id=doc_id, recipient=recipient)
            return
        self._seen.add(key)
        if self.config.intake_delay_s:
            await asyncio.sleep(self.config.intake_delay_s)  # in line: the loop waits too
        try:
            signed = self.events.decode_signed(record.value)
            # integrity first: never parse content that is not what was signed
            self.verifier.check_digest(signed.content, signed.content_schema_id,
                                       signed.content_digest)
            document = self.events.decode_content(signed)
            if document.document_id != routing.content_document_id or document.sender != sender:
                raise DecodeError(f"headers say {routing.content_document_id!r} from {sender}, "
                                  "the signed content "
                                  f"says {document.document_id!r} from {document.sender}",
                                  reason="header_mismatch")
        except SignatureError as tampered:  # the digest does not match
            self._count_signing(sender, personal_ok=False, agency_ok=False, failure=tampered)
            await self._reject(doc_id, sender, recipient, tampered, futures, status_topic, trace)
            return
        except DecodeError as invalid:  # returned to the sender with 02, and kept whole
            await self._reject(doc_id, sender, recipient, invalid, futures, status_topic, trace)
            raise
        self.metrics.record_content_version(self.events.content_writer(signed).version)
        self.metrics.record_hops(route, len(routing.trace))
        if routing.sent_us is not None and routing.sent_us >= self.metrics.measure_from_wall_us:
            for stage, latency_us in headers.hop_latencies(routing, time.time_ns() // 1000, VDXP):
                self.metrics.stage(stage).record_us(latency_us)
        refusal = self._refusal(signed, document, recipient)
        if refusal is not None:
            await self._reject(doc_id, sender, recipient, refusal, futures, status_topic, trace)
            return
        if routing.fault == FaultKind.FORGED_STATUS and self.sealer is not None:
            futures.append(await self._send_status(  # a 06 under another agency's seal
                doc_id, sender, recipient, StatusCode.COMPLETED, topic=status_topic,
                trace=trace, sealed_by=self._forger(sender, recipient)))
        futures.append(await self._send_status(doc_id, sender, recipient, StatusCode.ARRIVED,
                                               topic=status_topic, trace=trace))
        task = asyncio.create_task(self._lifecycle(doc_id, sender, recipient, status_topic,
                                                   misbehave=routing.fault, trace=trace))
        self._lifecycles.add(task)
        task.add_done_callback(self._lifecycles.discard)

    async def _reject(self, doc_id: str, sender: str, recipient: str, failure: Rejected,
                      futures: Futures, topic: str,
                      trace: headers.TraceContext | None) -> None:
        """01 (it did arrive), then 02 with the reason."""
        self.metrics.record_rejection(failure.reason)
        log.info("document_rejected", document_id=doc_id, recipient=recipient,
                 reason=failure.reason, detail=failure.detail)
        futures.append(await self._send_status(doc_id, sender, recipient, StatusCode.ARRIVED,
                                               topic=topic, trace=trace))
        futures.append(await self._send_status(doc_id, sender, recipient, StatusCode.REJECTED,
                                               reason=failure.reason,
                                               description=failure.detail, topic=topic,
                                               trace=trace))

    def abort(self) -> None:
        """The run is over without draining: drop the lifecycles in progress."""
        self._stop_timeout_s = 0.5
        for task in self._lifecycles:
            task.cancel()

    def resume(self, sent: dict[tuple[str, str], SentStatuses]) -> int:
        """After a restart (``consumers.recovery``): remember every document already taken in
        and carry each unfinished lifecycle on from its next step; returns how many resumed."""
        resumed = 0
        for key, statuses in sent.items():
            if key[1] in self.external:
                continue  # the user's service answered those, not us
            self._seen.add(joined(*key))
            if statuses.finished or StatusCode.ARRIVED not in statuses.codes:
                continue
            task = asyncio.create_task(self._lifecycle(
                key[0], statuses.sender, key[1], statuses.topic, already=statuses.codes,
                trace=statuses.trace))
            self._lifecycles.add(task)
            task.add_done_callback(self._lifecycles.discard)
            resumed += 1
        return resumed

    def _refusal(self, signed: SignedDocument, document: Document,
                 recipient: str) -> Rejected | None:
        """Why the recipient returns the document (02), or None to accept it."""
        if document.secrecy is not Secrecy.NONE:
            return DeliveryError("a secret document must never travel the bus",
                                 reason="secret_document")
        if recipient not in document.recipients:
            return DeliveryError(f"{recipient} is not among the document's recipients",
                                 reason="wrong_recipient")
        start = time.perf_counter_ns()
        personal_failure = agency_failure = None
        if signed.personal_signature is not None:  # both are always checked, for the metrics
            personal_failure = self._check(signed.personal_signature, signed.content_digest,
                                           document.sender, SignatureRole.PERSONAL)
        if signed.agency_signature is None:
            agency_failure = SignatureError("the agency signature is missing",
                                            reason="missing_agency_signature")
        else:
            agency_failure = self._check(signed.agency_signature, signed.content_digest,
                                         document.sender, SignatureRole.AGENCY)
        self.metrics.record_verify_cost(time.perf_counter_ns() - start)
        failure = personal_failure or agency_failure
        if (failure is None and signed.personal_signature is None
                and self.config.signature_policy is SignaturePolicy.REQUIRE_BOTH):
            failure = SignatureError("the personal signature is missing",
                                     reason="missing_personal_signature")
        self._count_signing(document.sender,
                            personal_ok=signed.personal_signature is not None
                            and personal_failure is None,
                            agency_ok=agency_failure is None, failure=failure)
        return failure

    def _check(self, block: SignatureBlock, digest: bytes, sender: str,
               role: SignatureRole) -> SignatureError | None:
        try:
            self.verifier.verify(block, digest, sender=sender, role=role)
        except SignatureError as exc:
            return exc
        return None

    def _count_signing(self, sender: str, *, personal_ok: bool, agency_ok: bool,
                       failure: SignatureError | None) -> None:
        agency = self.topology.agencies.get(sender)
        tier = agency.tier if agency else "unknown"
        self.metrics.record_verified(tier, personal_ok=personal_ok, agency_ok=agency_ok,
                                     failure=None if failure is None else failure.reason)

    async def _lifecycle(self, doc_id: str, sender: str, recipient: str, topic: str, *,
                         misbehave: str | None = None, already: list[StatusCode] | None = None,
                         trace: headers.TraceContext | None = None) -> None:
        """03 → 04 → 05* → 06. ``misbehave`` (fault injection only) makes this recipient's
        software send 04 before 03 or never send 03. ``already``: statuses sent before a
        restart, not sent again."""
        first = [StatusCode.REGISTERED, StatusCode.ASSIGNED]
        if misbehave == FaultKind.OUT_OF_ORDER_STATUS:
            first.reverse()
        elif misbehave == FaultKind.DROPPED_STATUS:
            first.remove(StatusCode.REGISTERED)
        steps = [*first, *([StatusCode.IN_PROGRESS] * self.config.in_progress_updates),
                 StatusCode.COMPLETED]
        for code in already or ():
            if code in steps:
                steps.remove(code)
        for code in steps:
            await asyncio.sleep(self.config.step_delay_s)
            try:
                await (await self._send_status(doc_id, sender, recipient, code, topic=topic,
                                               trace=trace))
            except KafkaError as exc:
                self.metrics.record_send_errors("status_produce_failed")
                if (left_out := self._send_failures_logged.allow()) is not None:
                    log.error("status_send_failed", document_id=doc_id, recipient=recipient,
                              topic=topic, status=code.value, error=repr(exc),
                              suppressed=left_out)
                return

    def _forger(self, sender: str, recipient: str) -> str:
        """Whose seal the ``forged-status`` fault puts on the recipient's forged 06: the
        document's sender's (another agency's, should the sender be the recipient)."""
        if sender != recipient and sender in self.topology.agencies:
            return sender
        return next(code for code in self.topology.agencies if code != recipient)

    async def _send_status(self, doc_id: str, sender: str, recipient: str, code: StatusCode, *,
                           topic: str, reason: str | None = None, description: str = "",
                           trace: headers.TraceContext | None = None,
                           sealed_by: str | None = None) -> asyncio.Future[Any]:
        """Send one status (a span, child of the delivery's ``trace``, when tracing), sealed by
        the recipient when the run seals statuses (``sealed_by``: fault injection's forger)."""
        status = StatusEvent(
            layer=StatusLayer.BUSINESS, from_code=recipient, document_id=doc_id,
            sender=sender, recipient=recipient, timestamp=dt.datetime.now(dt.UTC),
            status_code=code, reason=reason, description=description,
            staff_name="Văn thư", staff_department=self.topology.agencies[recipient].name)
        if self.sealer is not None:
            status = await self.sealer.seal(status, by=sealed_by)
        key = sender.encode()
        span = self.tracing.send(topic, key, parent=trace, document_id=doc_id, actor=recipient,
                                 status=code.value)
        try:
            return await self.producer.send(
                topic, value=self.events.encode_status(status), key=key,
                headers=headers.build(headers.STATUS, doc_id, recipient, (sender,),
                                      context=span.context))
        finally:
            span.end()

