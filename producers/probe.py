"""A readiness probe: one real, validly signed document for an external recipient or router.

The run sends it before its schedule starts, straight onto the recipient's platform ``deliver``
topic as the platform would deliver it, and waits for a status about it (``lgsp.run.readiness``).
Its DocumentId's notation is ``lgsp.external.PROBE_NOTATION`` so the tracker leaves its statuses
out of the run's figures.
"""

from __future__ import annotations

import datetime as dt
import time

from lgsp.bus import headers
from lgsp.codec.events import EventCodec, SignedDocument
from lgsp.domain.document import BusinessType, Document, Priority, SteeringType, document_id
from lgsp.domain.topology import Topology
from lgsp.external import PROBE_NOTATION
from lgsp.signing.pki import Pki
from lgsp.signing.signature import content_digest, sign
from producers.sender import Envelope, issue_credentials
from producers.traffic import head_official


def probe_sender(topology: Topology, recipient: str) -> str:
    """Who sends the probe: the recipient's parent agency, else its province's office, else any
    other agency (a deterministic choice)."""
    agency = topology.agency(recipient)
    parent = agency.code.parent
    if parent is not None and parent.value in topology.agencies:
        return parent.value
    province = topology.province_of(recipient)
    if province is not None and province.office != recipient:
        return province.office
    return next(code for code in sorted(topology.agencies) if code != recipient)


def probe_envelope(*, topology: Topology, pki: Pki, events: EventCodec, deliver_topic: str,
                   recipient: str, number: int, today: dt.date) -> Envelope:
    """Probe ``number`` for ``recipient``: signed by its sender's official and seal, delivered
    on ``deliver_topic`` keyed by the recipient, one trace entry for the delivering platform."""
    sender = probe_sender(topology, recipient)
    doc_id, value = _signed_probe(topology, pki, events, sender, recipient, number, today)
    platform = topology.agency(recipient).platform
    return Envelope(
        topic=deliver_topic, key=recipient.encode(), value=value,
        headers=headers.build(headers.DOCUMENT, doc_id, sender, (recipient,),
                              trace=(headers.TraceEntry(platform, time.time_ns() // 1000),),
                              sent_us=time.time_ns() // 1000))


def platform_probe_pair(topology: Topology, platform: str,
                        external: frozenset[str] = frozenset()) -> tuple[str, str]:
    """(sender, recipient) of an outside router's probe: two members of ``platform`` that
    lgsp-sim plays (the province office or first central body sends, when it can)."""
    members = [c for c in sorted(topology.members(platform)) if c not in external]
    province = topology.provinces.get(platform)
    if province is not None and province.office in members:
        members.remove(province.office)
        members.insert(0, province.office)
    if len(members) < 2:
        raise ValueError(f"{platform} has fewer than two members lgsp-sim plays")
    return members[0], members[1]


def platform_probe_envelope(*, topology: Topology, pki: Pki, events: EventCodec,
                            inbound_topic: str, platform: str, number: int, today: dt.date,
                            external: frozenset[str] = frozenset()) -> Envelope:
    """Probe ``number`` for an outside router of ``platform``: a document from one of its
    members to another, submitted on its inbound topic as the sender's software would (key =
    the DocumentId, no trace entry)."""
    sender, recipient = platform_probe_pair(topology, platform, external)
    doc_id, value = _signed_probe(topology, pki, events, sender, recipient, number, today)
    return Envelope(topic=inbound_topic, key=doc_id.encode(), value=value,
                    headers=headers.build(headers.DOCUMENT, doc_id, sender, (recipient,),
                                          sent_us=time.time_ns() // 1000))


def _signed_probe(topology: Topology, pki: Pki, events: EventCodec, sender: str, recipient: str,
                  number: int, today: dt.date) -> tuple[str, bytes]:
    """(DocumentId, framed DocumentEvent) of a probe from ``sender`` to ``recipient``."""
    agency = topology.agency(sender)
    province = topology.province_of(sender)
    code = f"{number}/{PROBE_NOTATION}"
    doc_id = document_id(sender, today, code)
    document = Document(
        document_id=doc_id, number=number, notation=code, type_name="công văn",
        subject="V/v kiểm tra kết nối (lgsp-sim readiness probe)", sender=sender,
        recipients=(recipient,),
        promulgation_place=province.display_name if province else "Hà Nội",
        promulgation_date=today, signer=head_official(agency), priority=Priority.NORMAL,
        steering_type=SteeringType.NONE, business_type=BusinessType.NEW, replaces=None,
        steering_document_id=None, due_date=None, attachments=())
    schema = events.document_schema
    content = events.encode_content(document, schema)
    digest = content_digest(content, schema.id)
    personal, seal = issue_credentials(pki, topology, sender)
    now = dt.datetime.now(dt.UTC)
    signed = SignedDocument(schema.id, content, digest, sign(personal, digest, now),
                            sign(seal, digest, now))
    return doc_id, events.encode_signed(signed)
