"""The domain model: tiers and agency codes, documents, statuses. Pure data, no I/O."""

from lgsp.domain.agency import Agency, AgencyCode
from lgsp.domain.document import (
    DOCUMENT_TYPES,
    Attachment,
    BusinessType,
    Document,
    Priority,
    Secrecy,
    Signer,
    SteeringType,
    document_id,
    notation,
)
from lgsp.domain.numbering import DocumentNumbering
from lgsp.domain.status import (
    ALLOWED_NEXT,
    StatusCode,
    StatusEvent,
    StatusLayer,
    StatusSeal,
    TransportState,
)
from lgsp.domain.topology import VDXP, Province, Topology, build_topology, platform_for_unit

__all__ = [
    "ALLOWED_NEXT",
    "DOCUMENT_TYPES",
    "VDXP",
    "Agency",
    "AgencyCode",
    "Attachment",
    "BusinessType",
    "Document",
    "DocumentNumbering",
    "Priority",
    "Province",
    "Secrecy",
    "Signer",
    "StatusCode",
    "StatusEvent",
    "StatusLayer",
    "StatusSeal",
    "SteeringType",
    "Topology",
    "TransportState",
    "build_topology",
    "document_id",
    "notation",
    "platform_for_unit",
]
