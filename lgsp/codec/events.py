"""Value objects ↔ Avro records: documents, document events, statuses, dead letters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lgsp.codec.avro import AvroCodec
from lgsp.codec.registry import RegisteredSchema
from lgsp.domain.document import (
    Attachment,
    BusinessType,
    Document,
    Priority,
    Secrecy,
    Signer,
    SteeringType,
)
from lgsp.domain.status import (
    StatusCode,
    StatusEvent,
    StatusLayer,
    StatusSeal,
    TransportState,
)
from lgsp.errors import ConfigError, DecodeError
from lgsp.signing.pki import SignatureRole
from lgsp.signing.signature import SignatureBlock

DOCUMENT = "lgsp.document"
DOCUMENT_EVENT = "lgsp.document-event"
STATUS_EVENT = "lgsp.status-event"
DEAD_LETTER = "lgsp.dead-letter"


@dataclass(frozen=True, slots=True)
class SignedDocument:
    """A document event as it travels: content bytes exactly as signed, digest and signatures."""

    content_schema_id: int
    content: bytes
    """Avro bytes of the Document (never re-encoded in transit)."""
    content_digest: bytes
    personal_signature: SignatureBlock | None
    agency_signature: SignatureBlock | None


# ---- documents ---------------------------------------------------------------------------------
def document_to_record(doc: Document) -> dict[str, Any]:
    return {
        "document_id": doc.document_id, "number": doc.number, "notation": doc.notation,
        "type_name": doc.type_name, "subject": doc.subject, "sender": doc.sender,
        "recipients": list(doc.recipients), "promulgation_place": doc.promulgation_place,
        "promulgation_date": doc.promulgation_date,
        "signer": {"authority": doc.signer.authority, "position": doc.signer.position,
                   "full_name": doc.signer.full_name},
        "priority": int(doc.priority), "steering_type": int(doc.steering_type),
        "business_type": int(doc.business_type), "replaces": doc.replaces,
        "steering_document_id": doc.steering_document_id,
        "due_date": doc.due_date, "secrecy": int(doc.secrecy),
        "attachments": [{"name": a.name, "content_type": a.content_type, "size": a.size,
                         "sha256": a.sha256} for a in doc.attachments],
    }


def record_to_document(r: dict[str, Any]) -> Document:
    try:
        return Document(
            document_id=r["document_id"], number=r["number"], notation=r["notation"],
            type_name=r["type_name"], subject=r["subject"], sender=r["sender"],
            recipients=tuple(r["recipients"]), promulgation_place=r["promulgation_place"],
            promulgation_date=r["promulgation_date"],
            signer=Signer(**r["signer"]), priority=Priority(r["priority"]),
            steering_type=SteeringType(r["steering_type"]),
            business_type=BusinessType(r["business_type"]), replaces=r.get("replaces"),
            steering_document_id=r.get("steering_document_id"),
            due_date=r.get("due_date"), secrecy=Secrecy(r.get("secrecy", 0)),
            attachments=tuple(Attachment(**a) for a in r.get("attachments", [])),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DecodeError(f"document content is not valid: {exc}",
                          reason="schema_invalid") from None


def _signature_record(block: SignatureBlock | None) -> dict[str, Any] | None:
    if block is None:
        return None
    return {"role": block.role.value, "certificate_serial": block.certificate_serial,
            "signed_at": block.signed_at, "value": block.value,
            "certificate": block.certificate}


def _signature_block(r: dict[str, Any] | None) -> SignatureBlock | None:
    if r is None:
        return None
    return SignatureBlock(SignatureRole(r["role"]), r["certificate_serial"], r["signed_at"],
                          r["value"], r.get("certificate"))  # absent from v1 records


def _seal_record(seal: StatusSeal | None) -> dict[str, Any] | None:
    if seal is None:
        return None
    return {"certificate_serial": seal.certificate_serial, "signed_at": seal.signed_at,
            "value": seal.value, "certificate": seal.certificate}


def _status_seal(r: dict[str, Any] | None) -> StatusSeal | None:
    if r is None:
        return None
    return StatusSeal(r["certificate_serial"], r["signed_at"], r["value"], r.get("certificate"))


class EventCodec:
    """Encodes and decodes the bus's records; every value is Confluent-framed Avro."""

    def __init__(self, codec: AvroCodec) -> None:
        self.codec = codec
        registry = codec.registry
        self.document_schema = registry.latest(DOCUMENT)
        """The reader schema of document content: the latest version."""
        self.event_schema = registry.latest(DOCUMENT_EVENT)
        self.status_schema = registry.latest(STATUS_EVENT)
        self.dead_letter_schema = registry.latest(DEAD_LETTER)

    # documents
    def document_schema_version(self, version: int | None) -> RegisteredSchema:
        """The document schema to write with: a given version, or the latest."""
        if version is None:
            return self.document_schema
        for schema in self.codec.registry.versions(DOCUMENT):
            if schema.version == version:
                return schema
        raise ConfigError(f"{DOCUMENT} has no version {version}; known: "
                          f"{[s.version for s in self.codec.registry.versions(DOCUMENT)]}")

    def encode_content(self, doc: Document, schema: RegisteredSchema | None = None) -> bytes:
        """The Avro body of the document: exactly the bytes the signatures cover."""
        return self.codec.encode_body(schema or self.document_schema, document_to_record(doc))

    def content_writer(self, signed: SignedDocument) -> RegisteredSchema:
        """The schema the content was written with, by its id (unknown → ``unknown_schema_id``)."""
        schema = self.codec.registry.by_id(signed.content_schema_id)
        if schema.subject != DOCUMENT:
            raise DecodeError(f"content schema id {schema.id} is {schema.subject}, not {DOCUMENT}",
                              reason="unexpected_schema")
        return schema

    def decode_content(self, signed: SignedDocument) -> Document:
        """Decode with the writer's schema, resolved into the latest (reader) schema."""
        writer = self.content_writer(signed)
        return record_to_document(self.codec.decode_body(writer, signed.content,
                                                         reader=self.document_schema))

    def encode_signed(self, signed: SignedDocument) -> bytes:
        return self.codec.encode_with(self.event_schema, {
            "content_schema_id": signed.content_schema_id, "content": signed.content,
            "content_digest": signed.content_digest,
            "personal_signature": _signature_record(signed.personal_signature),
            "agency_signature": _signature_record(signed.agency_signature),
        })

    def decode_signed(self, data: bytes) -> SignedDocument:
        _, r = self.codec.decode(data, expect_subject=DOCUMENT_EVENT)
        return SignedDocument(r["content_schema_id"], r["content"], r["content_digest"],
                              _signature_block(r["personal_signature"]),
                              _signature_block(r["agency_signature"]))

    # statuses
    @property
    def statuses_carry_seals(self) -> bool:
        """Whether the status schema written with (the latest) has the ``seal`` field (v2)."""
        return any(f.get("name") == "seal" for f in self.status_schema.definition["fields"])

    def encode_status(self, s: StatusEvent) -> bytes:
        """A status framed with the latest ``lgsp.status-event`` (v2: with its seal, if any)."""
        staff = ({"full_name": s.staff_name, "department": s.staff_department or ""}
                 if s.staff_name else None)
        return self.codec.encode_with(self.status_schema, {
            "layer": s.layer.value, "from_code": s.from_code, "document_id": s.document_id,
            "sender": s.sender, "recipient": s.recipient,
            "status_code": s.status_code.value if s.status_code else None,
            "transport_state": s.transport_state.value if s.transport_state else None,
            "reason": s.reason, "description": s.description, "staff": staff,
            "timestamp": s.timestamp, "seal": _seal_record(s.seal),
        })

    def decode_status(self, data: bytes) -> StatusEvent:
        """A status of any registered version (v1 has no seal)."""
        _, r = self.codec.decode(data, expect_subject=STATUS_EVENT)
        try:
            staff = r.get("staff") or {}
            return StatusEvent(
                layer=StatusLayer(r["layer"]), from_code=r["from_code"],
                document_id=r["document_id"], sender=r["sender"], recipient=r["recipient"],
                timestamp=r["timestamp"],
                status_code=StatusCode(r["status_code"]) if r["status_code"] else None,
                transport_state=(TransportState(r["transport_state"]) if r["transport_state"]
                                 else None),
                reason=r["reason"], description=r["description"],
                staff_name=staff.get("full_name"), staff_department=staff.get("department"),
                seal=_status_seal(r.get("seal")),  # absent from v1 records
            )
        except ValueError as exc:
            raise DecodeError(f"status event is not valid: {exc}",
                              reason="schema_invalid") from None

    # dead letters
    def encode_dead_letter(self, *, reason: str, detail: str, stage: str, topic: str,
                           partition: int, offset: int, key: bytes | None, value: bytes | None,
                           headers: list[tuple[str, bytes]]) -> bytes:
        return self.codec.encode_with(self.dead_letter_schema, {
            "reason": reason, "detail": detail, "stage": stage, "source_topic": topic,
            "source_partition": partition, "source_offset": offset, "key": key, "value": value,
            "headers": [{"key": k, "value": v} for k, v in headers],
            "failed_at": dt.datetime.now(dt.UTC),
        })

    def decode_dead_letter(self, data: bytes) -> dict[str, Any]:
        return self.codec.decode(data, expect_subject=DEAD_LETTER)[1]
