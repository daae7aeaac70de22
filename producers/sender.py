"""Agency senders: the clerk's work on the sending side — number, sign, encode, submit.

``submit()`` refuses a secret document before anything is sent, numbers the draft (per agency and
year), encodes the content once, signs its SHA-256 digest with the official's personal credential
and the agency's credential, frames the event and hands it to the producer's buffer. It returns the
produce future without awaiting it: the scheduler awaits futures per batch, never per document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

from lgsp.bus import headers
from lgsp.bus.topics import TopicNames
from lgsp.bus.tracing import NO_TRACING, Tracing
from lgsp.codec.events import EventCodec, SignedDocument
from lgsp.codec.registry import RegisteredSchema
from lgsp.domain.document import (
    BusinessType,
    Document,
    Secrecy,
    SteeringType,
    document_id,
    notation,
)
from lgsp.domain.numbering import DocumentNumbering
from lgsp.domain.topology import Topology
from lgsp.errors import DocumentRefused, LifecycleError
from lgsp.faults import RECIPIENT_FAULTS, REFUSED_AT_SEND, FaultKind
from lgsp.metrics import series
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.stages import Stage
from lgsp.signing.pki import Credential, Pki, SignatureRole
from lgsp.signing.signature import SignatureBlock, block_of, content_digest, sign
from producers.faults import UNDECODABLE, UNKNOWN_RECIPIENT, FaultInjector
from producers.traffic import Draft, head_official

log = structlog.get_logger(__name__)

VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")  # no daylight saving time


def vietnam_today() -> dt.date:
    """The date in Vietnam: DocumentId dates and the yearly numbering follow local time."""
    return dt.datetime.now(VIETNAM).date()


def issue_credentials(pki: Pki, topology: Topology, sender: str) -> tuple[Credential, Credential]:
    """The personal credential of the agency's head official and the agency's seal."""
    agency = topology.agency(sender)
    official = head_official(agency)
    personal = pki.credential(sender, SignatureRole.PERSONAL, holder=official.full_name,
                              organization=agency.name, title=official.position)
    return personal, issue_seal(pki, topology, sender)


def issue_seal(pki: Pki, topology: Topology, code: str) -> Credential:
    """The agency's seal (its ``agency-seal`` certificate and key): what it signs documents
    with, and seals its statuses with (docs/contract.md §7a)."""
    agency = topology.agency(code)
    return pki.credential(code, SignatureRole.AGENCY, holder=agency.name,
                          organization=agency.name)


Expect = Callable[[Document, int], None]
SendFailed = Callable[[Document, BaseException], None]
FaultInjected = Callable[[Document, FaultKind, Iterable[str]], None]
FaultRefused = Callable[[FaultKind, str], None]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A record ready for the producer."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(slots=True)
class Prepared:
    """A draft made ready ahead of its send time: its fault, number, content and digest, and the
    signatures being made for it (``lgsp.signing.pool``), or the refusal it meets."""

    draft: Draft
    fault: FaultKind | None
    document: Document | None = None
    refused: DocumentRefused | None = None
    schema_id: int = 0
    content: bytes = b""
    digest: bytes = b""
    signers: tuple[Credential, ...] = ()
    """The credentials that sign it, in order (personal, then the agency's seal)."""
    signatures: asyncio.Future[tuple[list[bytes], int]] | None = None
    """The signing pool's values for ``signers`` and its CPU time; None: signed in line."""
    signed_at: dt.datetime | None = None


class AgencySender:
    """Submits documents for every agency of the topology to its home platform."""

    def __init__(self, *, topology: Topology, pki: Pki, events: EventCodec,
                 producer: AIOKafkaProducer, topics: TopicNames, metrics: RunMetrics,
                 expect: Expect, document_versions: tuple[int, ...] = (),
                 on_send_failed: SendFailed | None = None,
                 faults: FaultInjector | None = None, on_fault: FaultInjected | None = None,
                 on_fault_refused: FaultRefused | None = None,
                 tracing: Tracing = NO_TRACING) -> None:
        self.topology = topology
        self.tracing = tracing
        """Each submit is the root span of its document's trace (``lgsp.bus.tracing``)."""
        self.pki = pki
        self.events = events
        self.producer = producer
        self.topics = topics
        self.metrics = metrics
        self.expect = expect
        self.on_send_failed = on_send_failed
        self.faults = faults
        """Fault injection (``--inject``): what each document's faulty software does."""
        self.on_fault = on_fault
        self.on_fault_refused = on_fault_refused
        self.generation_of: Callable[[int], int | None] = lambda _now_ns: None
        """The topic generation of a document sent at a (monotonic) time, when topics rotate."""
        self.numbering = DocumentNumbering()
        self._last_issued: dict[str, str] = {}
        self._steering_received: dict[tuple[str, str], str] = {}
        """(recipient, issuer) -> the issuer's last steering document sent to the recipient."""
        # Which document schema version each agency's software writes (mixed fleets during a
        # schema rollout); by default every agency writes the latest.
        self._content_schemas = [events.document_schema_version(v) for v in document_versions] \
            or [events.document_schema]

    def content_schema(self, sender: str) -> RegisteredSchema:
        return self._content_schemas[zlib.crc32(sender.encode()) % len(self._content_schemas)]

    def credentials(self, sender: str) -> tuple[Credential, Credential]:
        return issue_credentials(self.pki, self.topology, sender)

    def compose(self, draft: Draft, date: dt.date) -> Document:
        """Number the draft and make the document (refuses secret documents)."""
        if draft.secrecy is not Secrecy.NONE:
            self.metrics.record_refused_at_send("secret_document")
            raise DocumentRefused(
                f"a {draft.secrecy.name.lower().replace('_', ' ')} document from {draft.sender} "
                "must never be sent on the bus (secret documents do not travel the axis)")
        agency = self.topology.agency(draft.sender)
        number = self.numbering.next(draft.sender, date)
        code = notation(draft.type_name, number, agency.abbreviation)
        business = draft.business_type
        replaces = self._last_issued.get(draft.sender)
        if business in (BusinessType.REPLACE, BusinessType.UPDATE) and replaces is None:
            business = BusinessType.NEW
        doc_id = document_id(draft.sender, date, code)
        self._last_issued[draft.sender] = doc_id
        answers = None
        if draft.steering_type is SteeringType.STEERING:
            for recipient in draft.recipients:  # what each recipient may later report on
                self._steering_received[(recipient, draft.sender)] = doc_id
        elif draft.steering_type is SteeringType.STEERING_REPORT:
            answers = next((self._steering_received[(draft.sender, r)] for r in draft.recipients
                            if (draft.sender, r) in self._steering_received), None)
        province = self.topology.province_of(draft.sender)
        return Document(
            document_id=doc_id, number=number, notation=code, type_name=draft.type_name,
            subject=draft.subject, sender=draft.sender, recipients=draft.recipients,
            promulgation_place=province.display_name if province else "Hà Nội",
            promulgation_date=date, signer=head_official(agency), priority=draft.priority,
            steering_type=draft.steering_type, business_type=business,
            replaces=replaces if business is BusinessType.REPLACE else None,
            steering_document_id=answers,
            due_date=(date + dt.timedelta(days=draft.due_in_days)) if draft.due_in_days else None,
            attachments=draft.attachments)

    def sign(self, document: Document, draft: Draft) -> SignedDocument:
        """Encode and sign a composed document now, in line."""
        return self.sign_now(self._encoded(Prepared(draft, None, document), document))

    def prepare(self, draft: Draft, date: dt.date | None = None) -> Prepared:
        """Everything before signing, in schedule order: the fault the document's software has
        (``--inject``), the number, the content bytes and their digest. A refusal (a secret
        document) is kept in it and raised when it is submitted."""
        faults = self.faults
        fault = faults.pick() if faults is not None else None
        if faults is not None and fault is not None:
            draft = faults.prepare(draft, fault)
        try:
            document = self.compose(draft, date or vietnam_today())
        except DocumentRefused as refused:
            if fault is FaultKind.SECRET_DOCUMENT and self.on_fault_refused is not None:
                self.on_fault_refused(fault, REFUSED_AT_SEND)
            return Prepared(draft, fault, refused=refused)
        return self._encoded(Prepared(draft, fault, document), document)

    def _encoded(self, prepared: Prepared, document: Document) -> Prepared:
        schema = self.content_schema(document.sender)
        prepared.schema_id = schema.id
        prepared.content = self.events.encode_content(document, schema)
        prepared.digest = content_digest(prepared.content, schema.id)
        personal, seal = self.credentials(document.sender)
        prepared.signers = tuple(credential for credential, wanted in (
            (personal, prepared.draft.sign_personal), (seal, prepared.draft.sign_agency))
            if wanted)
        return prepared

    def sign_now(self, prepared: Prepared) -> SignedDocument:
        """Sign a prepared document in line (no signing pool)."""
        signed_at = dt.datetime.now(dt.UTC)
        start = time.perf_counter_ns()
        blocks = [sign(credential, prepared.digest, signed_at) for credential in prepared.signers]
        return self._signed(prepared, blocks, time.perf_counter_ns() - start)

    def _signed(self, prepared: Prepared, blocks: list[SignatureBlock],
                cost_ns: int) -> SignedDocument:
        if prepared.document is None:
            raise LifecycleError("a refused draft is never signed")
        personal = next((b for b in blocks if b.role is SignatureRole.PERSONAL), None)
        agency = next((b for b in blocks if b.role is SignatureRole.AGENCY), None)
        if blocks:
            self.metrics.record_sign_cost(cost_ns)
        tier = self.topology.agency(prepared.document.sender).tier
        self.metrics.record_signed(tier, personal=personal is not None,
                                   agency=agency is not None)
        return SignedDocument(prepared.schema_id, prepared.content, prepared.digest, personal,
                              agency)

    async def submit(self, draft: Draft, intended_ns: int, *,
                     date: dt.date | None = None) -> asyncio.Future[Any]:
        """Compose, sign and send one document; returns the produce future (not awaited)."""
        self.metrics.series.count(series.TARGET, intended_ns)
        return await self._submit(self.prepare(draft, date), intended_ns)

    async def submit_prepared(self, prepared: Prepared, intended_ns: int) -> asyncio.Future[Any]:
        """Send a document prepared (and maybe signed) ahead of ``intended_ns``; waits for its
        signatures if the signing pool has not made them yet (that wait counts in latency from
        the intended time, and in the schedule lag of the documents after it)."""
        self.metrics.series.count(series.TARGET, intended_ns)
        return await self._submit(prepared, intended_ns)

    async def _submit(self, prepared: Prepared, intended_ns: int) -> asyncio.Future[Any]:
        if prepared.refused is not None:
            raise prepared.refused
        document = prepared.document
        if document is None:
            raise LifecycleError("a prepared draft has neither a document nor a refusal")
        if prepared.signatures is None or prepared.signed_at is None:
            signed = self.sign_now(prepared)
        else:
            values, cost_ns = await prepared.signatures
            signed_at = prepared.signed_at
            signed = self._signed(prepared, [block_of(credential, value, signed_at)
                                             for credential, value
                                             in zip(prepared.signers, values, strict=True)],
                                  cost_ns)
        fault = prepared.fault
        if self.faults is not None and fault is not None:
            signed = self.faults.corrupt(document, signed, fault)
        return await self.send(document, signed, intended_ns, fault=fault)

    def envelope(self, document: Document, signed: SignedDocument,
                 generation: int | None = None, fault: FaultKind | None = None,
                 context: headers.TraceContext | None = None) -> Envelope:
        """The Kafka record of a document submitted to its sender's home platform (in topic
        ``generation`` when topics rotate), carrying trace ``context`` if given."""
        return Envelope(
            topic=self.topic(document, generation),
            key=document.document_id.encode(),
            value=UNDECODABLE if fault is FaultKind.UNDECODABLE
            else self.events.encode_signed(signed),
            headers=headers.build(headers.DOCUMENT, document.document_id, document.sender,
                                  document.recipients, sent_us=time.time_ns() // 1000,
                                  fault=fault.value if fault in RECIPIENT_FAULTS else None,
                                  context=context))

    def topic(self, document: Document, generation: int | None = None) -> str:
        """The inbound topic of the sender's home platform."""
        return self.topics.inbound(self.topology.agency(document.sender).platform, generation)

    async def send(self, document: Document, signed: SignedDocument, intended_ns: int, *,
                   fault: FaultKind | None = None) -> asyncio.Future[Any]:
        """Register the deliveries with the tracker and hand the record to the producer."""
        tier = self.topology.agency(document.sender).tier
        self.metrics.record_document(tier, len(document.recipients))
        self.metrics.series.count(series.DUE, intended_ns, len(document.recipients))
        self.expect(document, intended_ns)
        if fault is not None and self.on_fault is not None:  # into the tracker's ledger
            self.on_fault(document, fault, (UNKNOWN_RECIPIENT,)
                          if fault is FaultKind.UNKNOWN_RECIPIENT else document.recipients)
        # the generation of the actual send time: a sender far behind its schedule must not
        # write into a generation that is already over (and deleted)
        generation = self.generation_of(time.monotonic_ns())
        span = self.tracing.send(self.topic(document, generation), document.document_id.encode(),
                                 parent=None, document_id=document.document_id,
                                 actor=document.sender)
        env = self.envelope(document, signed, generation, fault, span.context)
        sent_ns = time.monotonic_ns()
        self.metrics.series.count(series.SENT, sent_ns)
        future = await self.producer.send(env.topic, value=env.value, key=env.key,
                                          headers=env.headers)
        if fault is FaultKind.DUPLICATE_DELIVERY:  # the same record once more
            again = await self.producer.send(env.topic, value=env.value, key=env.key,
                                             headers=env.headers)
            future = asyncio.ensure_future(_both(future, again))
        span.end()
        measured = self.metrics.measured(intended_ns)
        produce_ack = self.metrics.stage(Stage.PRODUCE_ACK)
        on_failed = self.on_send_failed

        def acknowledged(done: asyncio.Future[Any]) -> None:
            if done.cancelled() or done.exception() is not None:
                if on_failed is not None:
                    on_failed(document, done.exception() or asyncio.CancelledError())
            elif measured:
                produce_ack.record_ns(time.monotonic_ns() - sent_ns)

        future.add_done_callback(acknowledged)
        return future


async def _both(first: asyncio.Future[Any], second: asyncio.Future[Any]) -> Any:
    result = await first
    await second
    return result
