"""The two layers of acknowledgement: transport states and edXML business status codes.

Lifecycle per (document, recipient): 01 → 03 → 04 → 05* → 06, or 01 → 02; a recall 13 is answered by
15 or 16. Duplicate statuses (same document, recipient and code) are dropped, except 05.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class TransportState(StrEnum):
    """The bus's own delivery state for a packet."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    DONE = "DONE"
    FAIL = "FAIL"


class StatusCode(StrEnum):
    """edXML business status codes, sent by the recipient back to the original sender."""

    ARRIVED = "01"
    REJECTED = "02"
    REGISTERED = "03"
    ASSIGNED = "04"
    IN_PROGRESS = "05"
    COMPLETED = "06"
    RECALL_REQUESTED = "13"
    RECALL_ACCEPTED = "15"
    RECALL_REFUSED = "16"


_RECALL_ANSWERS = frozenset({StatusCode.RECALL_ACCEPTED, StatusCode.RECALL_REFUSED})
REPEATABLE = frozenset({StatusCode.IN_PROGRESS})

# Which codes may follow which (None = nothing received yet).
ALLOWED_NEXT: dict[StatusCode | None, frozenset[StatusCode]] = {
    None: frozenset({StatusCode.ARRIVED}),
    StatusCode.ARRIVED: frozenset({StatusCode.REJECTED, StatusCode.REGISTERED}) | _RECALL_ANSWERS,
    StatusCode.REGISTERED: frozenset({StatusCode.ASSIGNED}) | _RECALL_ANSWERS,
    StatusCode.ASSIGNED: frozenset({StatusCode.IN_PROGRESS, StatusCode.COMPLETED})
    | _RECALL_ANSWERS,
    StatusCode.IN_PROGRESS: frozenset({StatusCode.IN_PROGRESS, StatusCode.COMPLETED})
    | _RECALL_ANSWERS,
    StatusCode.COMPLETED: _RECALL_ANSWERS,  # a recall (13) may follow completion
    StatusCode.RECALL_REFUSED: frozenset(),
    StatusCode.REJECTED: frozenset(),
}


class StatusLayer(StrEnum):
    BUSINESS = "BUSINESS"     # edXML status packet from the recipient
    TRANSPORT = "TRANSPORT"   # the bus's own delivery state, from a platform


@dataclass(frozen=True, slots=True)
class StatusSeal:
    """The answering agency's seal of a business status (status-event v2; docs/contract.md
    §7a), as an edXML status packet carries an XML-DSig signature."""

    certificate_serial: str
    """Lower-case hex serial of the sealing certificate."""
    signed_at: dt.datetime
    """When it was sealed (UTC); the certificate must be valid then."""
    value: bytes
    """The signature over the status's digest, ``STATUS`` and ``signed_at``
    (``lgsp.signing.status_seal``)."""
    certificate: bytes | None = None
    """DER of the sealing certificate: the recipient agency's ``agency-seal`` certificate."""


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """An acknowledgement travelling back to the original sender by the reverse route."""

    layer: StatusLayer
    from_code: str
    """The recipient agency (business) or the platform (transport) that reports."""
    document_id: str
    """ResponseFor: the original DocumentId."""
    sender: str
    """ResponseFor: the original sender, the addressee of this status."""
    recipient: str
    """The recipient this status is about."""
    timestamp: dt.datetime
    status_code: StatusCode | None = None
    transport_state: TransportState | None = None
    reason: str | None = None
    """Machine reason, mandatory with 02 and FAIL."""
    description: str = ""
    staff_name: str | None = None
    staff_department: str | None = None
    seal: StatusSeal | None = None
    """The answering agency's seal (business statuses, when the run requires seals); None in
    an unsealed status, a transport state and every status-event v1 record."""

    def __post_init__(self) -> None:
        if self.status_code is StatusCode.REJECTED and not self.reason:
            raise ValueError("status 02 (rejected) needs a reason")
        if self.transport_state is TransportState.FAIL and not self.reason:
            raise ValueError("transport FAIL needs a reason")
