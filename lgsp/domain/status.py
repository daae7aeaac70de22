"""The two layers of acknowledgement: transport states and edXML business status codes.

Lifecycle per (document, recipient): 01 → 03 → 04 → 05* → 06, or 01 → 02; a recall 13 is answered by
15 or 16. Duplicate statuses (same document, recipient and code) are dropped, except 05.
"""

from __future__ import annotations

from enum import Enum


class TransportState(str, Enum):
    """The bus's own delivery state for a packet."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    DONE = "DONE"
    FAIL = "FAIL"


class StatusCode(str, Enum):
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

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({StatusCode.REJECTED, StatusCode.COMPLETED, StatusCode.RECALL_ACCEPTED})
REPEATABLE = frozenset({StatusCode.IN_PROGRESS})

# Which codes may follow which (None = nothing received yet).
ALLOWED_NEXT: dict[StatusCode | None, frozenset[StatusCode]] = {
    None: frozenset({StatusCode.ARRIVED}),
    StatusCode.ARRIVED: frozenset({StatusCode.REJECTED, StatusCode.REGISTERED}),
    StatusCode.REGISTERED: frozenset({StatusCode.ASSIGNED}),
    StatusCode.ASSIGNED: frozenset({StatusCode.IN_PROGRESS, StatusCode.COMPLETED}),
    StatusCode.IN_PROGRESS: frozenset({StatusCode.IN_PROGRESS, StatusCode.COMPLETED}),
    StatusCode.REJECTED: frozenset(),
    StatusCode.COMPLETED: frozenset(),
}

# The happy path a recipient walks after a document verifies.
HAPPY_PATH = (StatusCode.REGISTERED, StatusCode.ASSIGNED, StatusCode.IN_PROGRESS,
              StatusCode.COMPLETED)
