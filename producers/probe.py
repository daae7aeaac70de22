"""A readiness probe: one real, validly signed document for an external recipient.

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
    platform = topology.agency(recipient).platform
    return Envelope(
        topic=deliver_topic, key=recipient.encode(), value=events.encode_signed(signed),
        headers=headers.build(headers.DOCUMENT, doc_id, sender, (recipient,),
                              trace=(headers.TraceEntry(platform, time.time_ns() // 1000),),
                              sent_us=time.time_ns() // 1000))
