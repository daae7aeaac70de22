"""Status seals: who said so (docs/contract.md §7a).

A business status (01–16) is sealed by the agency that answers, as an edXML status packet carries
an XML-DSig signature. The seal covers the status's own fields through a digest::

    status_digest = SHA-256(document_id 0x1F recipient 0x1F status_code 0x1F reason 0x1F timestamp)
    tbs           = status_digest || "STATUS" || signed_at (8 bytes, µs, unsigned big-endian)

(UTF-8; ``reason`` empty when null; ``timestamp`` in µs as a decimal number), signed as a
document's signed attributes are (``lgsp.signing.signature``: RSA and ECDSA with SHA-256 over
``tbs``, Ed25519 over ``SHA-256(tbs)``); the role bytes ``STATUS`` keep a seal from passing for
a document signature and back. ``StatusSealCheck`` accepts a seal only when its certificate passes
the document verifier's checks (chain, revocation, validity: ``SignatureVerifier.signer``), is an
``agency-seal`` certificate of the status's recipient and the value verifies; otherwise the status
is *forged* and the check says why (``FORGED_REASONS``).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography.exceptions import InvalidSignature

from lgsp.domain.status import StatusEvent, StatusSeal
from lgsp.errors import SignatureError
from lgsp.signing.pki import Credential, SignatureRole
from lgsp.signing.signature import (
    SignatureVerifier,
    micros,
    sign_attributes,
    verify_attributes,
)

STATUS_ROLE = b"STATUS"
"""The role bytes of a status seal's signed attributes."""
SEPARATOR = b"\x1f"

UNSEALED = "unsealed"
"""A business status without a seal."""
SEALED_BY_OTHER = "sealed_by_other"
"""Sealed with a certificate of another agency than the status's recipient."""
BAD_SEAL = "bad_seal"
"""The seal's value does not verify over the status's fields with its certificate."""
WRONG_ROLE = "wrong_role"
"""Sealed with a certificate that is not an agency seal (a personal certificate)."""
FORGED_REASONS = (UNSEALED, "unknown_certificate", "unknown_issuer", "revoked",
                  "signed_in_future", "expired", "not_yet_valid", WRONG_ROLE, SEALED_BY_OTHER,
                  BAD_SEAL, "unsupported_key")
"""Why a status is forged, in the order they are checked (certificate reasons as in §5)."""


def status_digest(status: StatusEvent) -> bytes:
    """SHA-256 over the status's document id, recipient, code, reason and timestamp (µs)."""
    fields = (status.document_id, status.recipient,
              status.status_code.value if status.status_code is not None else "",
              status.reason or "", str(micros(status.timestamp)))
    return hashlib.sha256(SEPARATOR.join(field.encode() for field in fields)).digest()


def seal(credential: Credential, status: StatusEvent, signed_at: dt.datetime) -> StatusSeal:
    """``status``'s seal, made with ``credential`` (an agency's seal) at ``signed_at``."""
    return StatusSeal(credential.issued.serial, signed_at,
                      sign_attributes(credential.key, status_digest(status), STATUS_ROLE,
                                      signed_at),
                      credential.issued.der or None)


class StatusSealCheck:
    """Tells a status sealed by its recipient from a forged one; chain results are cached by
    the verifier it shares with the recipients."""

    def __init__(self, verifier: SignatureVerifier) -> None:
        self.verifier = verifier

    def __call__(self, status: StatusEvent, now: dt.datetime | None = None) -> str | None:
        """None when ``status`` carries a valid seal of its recipient's agency; else the
        reason it is forged (``FORGED_REASONS``)."""
        sealed = status.seal
        if sealed is None:
            return UNSEALED
        try:
            issued = self.verifier.signer(sealed.certificate_serial, sealed.certificate,
                                          sealed.signed_at, now=now)
            if issued.role is not SignatureRole.AGENCY:
                return WRONG_ROLE
            if issued.agency_code != status.recipient:
                return SEALED_BY_OTHER
            verify_attributes(issued, sealed.value, status_digest(status), STATUS_ROLE,
                              sealed.signed_at)
        except SignatureError as failed:
            return failed.reason
        except InvalidSignature:
            return BAD_SEAL
        return None
