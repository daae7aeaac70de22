"""What an external party (``--external``) is graded on: the checks of the contract, by name.

The tracker's grader (``consumers.conformance``) counts failures under these names; the report's
"System under test" section (``lgsp.metrics.conformance_report``) and the SLO gates read them.
"""

from __future__ import annotations

from enum import StrEnum


class Check(StrEnum):
    """One rule of the contract (docs/contract.md §7, §7a) an external recipient is graded
    on."""

    ANSWERED = "answered"
    """Every delivered document gets a 01 within --ack-timeout of its intended send time."""
    FIRST_STATUS_01 = "first_status_01"
    """The first status of a delivery is 01."""
    LIFECYCLE_ORDER = "lifecycle_order"
    """Each status may follow the previous one: 01 → 03 → 04 → 05* → 06, or 01 → 02."""
    NO_SKIPPED_STEP = "no_skipped_step"
    """No step of 03, 04 is left out on the way to 06."""
    ONE_STATUS_PER_STEP = "one_status_per_step"
    """A step is answered once (a redelivered document is absorbed, not answered again)."""
    LIFECYCLE_ENDS = "lifecycle_ends"
    """After 01, a terminal status (02, 06, 15) comes before the run ends."""
    NOTHING_AFTER_END = "nothing_after_end"
    """No status after the lifecycle ended (02, 06, 15)."""
    KNOWN_REASON = "known_reason"
    """A 02 carries a reason from the contract's list (docs/contract.md §5)."""
    FAULT_REFUSED = "fault_refused"
    """An injected fault is refused with 02 and the reason the contract gives for it."""
    NO_FALSE_REFUSAL = "no_false_refusal"
    """A valid document is not refused."""
    STATUS_DECODES = "status_decodes"
    """Every status is a framed ``StatusEvent`` of a known schema (else it is dead-lettered)."""
    STATUS_SEALED = "status_sealed"
    """Every business status carries a valid seal of the recipient's own agency
    (docs/contract.md §7a; graded when the run requires seals)."""


CHECK_TEXT: dict[Check, str] = {
    Check.ANSWERED: "every delivered document gets a 01 within --ack-timeout",
    Check.FIRST_STATUS_01: "the first status of a delivery is 01",
    Check.LIFECYCLE_ORDER: "each status may follow the previous one (01 → 03 → 04 → 05* → 06, "
                           "or 01 → 02)",
    Check.NO_SKIPPED_STEP: "no step of 03, 04 is left out on the way to 06",
    Check.ONE_STATUS_PER_STEP: "a step is answered once (a redelivered document is absorbed)",
    Check.LIFECYCLE_ENDS: "after 01, a terminal status (02, 06, 15) before the run ends",
    Check.NOTHING_AFTER_END: "no status after the lifecycle ended",
    Check.KNOWN_REASON: "a 02 carries a reason from docs/contract.md §5",
    Check.FAULT_REFUSED: "an injected fault is refused with its reason",
    Check.NO_FALSE_REFUSAL: "a valid document is not refused",
    Check.STATUS_DECODES: "every status is a framed StatusEvent of a known schema",
    Check.STATUS_SEALED: "every business status carries a valid seal of the agency's own",
}
"""Each check in one line, as the report says it."""
MAX_EXAMPLES = 5
"""Examples kept per party and check."""

REFUSAL_REASONS = frozenset({
    "tampered", "unknown_certificate", "unknown_issuer", "revoked", "signed_in_future",
    "expired", "not_yet_valid", "wrong_role", "signer_not_sender", "bad_signature",
    "unsupported_key", "missing_agency_signature", "missing_personal_signature",
    "schema_invalid", "unknown_schema_id", "undecodable", "header_mismatch", "secret_document",
    "wrong_recipient"})
"""The 02 reasons of docs/contract.md §5, in the order a recipient checks."""


class PlatformCheck(StrEnum):
    """One rule of the contract (docs/contract.md §10) an outside router is graded on."""

    COPY_DELIVERED = "copy_delivered"
    """Every recipient of every document read gets its copy; every status goes on."""
    ONE_COPY = "one_copy"
    """Nothing is written twice."""
    RIGHT_DESTINATION = "right_destination"
    """Each copy on the topic and for the recipients the routing table gives."""
    ONE_PACKET_PER_DESTINATION = "one_packet_per_destination"
    """An LGSP forwards a document's recipients to VDXP in one packet."""
    UNKNOWN_RECIPIENT_FAILED = "unknown_recipient_failed"
    """A failed recipient gets its transport FAIL status, with the reason, back to the sender."""
    TRACE_APPENDED = "trace_appended"
    """What it writes carries the trace headers it read and one entry of its own."""
    RECORD_INTACT = "record_intact"
    """Value bytes, key and the other headers as the contract says."""


PLATFORM_CHECK_TEXT: dict[PlatformCheck, str] = {
    PlatformCheck.COPY_DELIVERED: "every recipient of a document read gets its copy; every "
                                  "status goes on",
    PlatformCheck.ONE_COPY: "nothing is written twice",
    PlatformCheck.RIGHT_DESTINATION: "each copy on the topic and for the recipients of "
                                     "docs/contract.md §10",
    PlatformCheck.ONE_PACKET_PER_DESTINATION: "an LGSP forwards a document's recipients to VDXP "
                                              "in one packet",
    PlatformCheck.UNKNOWN_RECIPIENT_FAILED: "a failed recipient gets a transport FAIL status "
                                            "with its reason back to the sender",
    PlatformCheck.TRACE_APPENDED: "the lgsp-trace headers read, and one entry of its own",
    PlatformCheck.RECORD_INTACT: "value bytes, key and the other headers kept",
}
"""Each platform check in one line, as the report says it."""
