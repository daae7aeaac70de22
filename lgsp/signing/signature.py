"""Signing a document's content digest, and verifying it the way a receiving agency must.

A document carries a SHA-256 digest of its content schema id and content bytes (so neither can be
swapped) and up to two signatures: the official's personal signature and the agency's signature.
Each signature covers the digest together with its role and signing time (signed attributes, as in
CMS), so a seal cannot be passed off as a personal signature and a signing time cannot be moved
into a certificate's validity. The verifier checks, in order: the content still matches the digest
(else ``tampered``), the certificate is known (``unknown_certificate``): the signature carries it
(document-event v2, as edXML's KeyInfo/X509Data does) or, in a v1 record, names its serial in the
certificate directory; it chains to the trusted root (``unknown_issuer``), is not revoked
(``revoked``), was valid when signed (``expired`` / ``not_yet_valid``; a signing time in the
future is ``signed_in_future``), has the role of the slot it sits in (``wrong_role``), belongs to
the sending agency (``signer_not_sender``), and the signature verifies (``bad_signature``). Chain
checks are cached per certificate; the rest runs per document. docs/contract.md gives the bytes.
A status seal (``lgsp.signing.status_seal``) is made and checked with the same signed attributes
(role bytes ``STATUS``) and the same certificate checks (``SignatureVerifier.signer``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from lgsp.errors import SignatureError
from lgsp.signing.keys import PrivateKey
from lgsp.signing.pki import CertificateDirectory, Credential, IssuedCertificate, SignatureRole

_PREHASHED = Prehashed(hashes.SHA256())


@dataclass(frozen=True, slots=True)
class SignatureBlock:
    """One signature as it travels in a document event."""

    role: SignatureRole
    """PERSONAL or AGENCY."""
    certificate_serial: str
    """Hex serial of the signer's certificate, resolved in the certificate directory."""
    signed_at: dt.datetime
    """When it was signed (UTC); the certificate must be valid then."""
    value: bytes
    """The signature over the signed attributes (see ``_to_be_signed``)."""
    certificate: bytes | None = None
    """DER of the signer's certificate (edXML KeyInfo/X509Data; document-event v2): with it a
    verifier needs only the trust anchors. None in v1 records: resolved by serial."""


CLOCK_SKEW = dt.timedelta(minutes=5)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def micros(at: dt.datetime) -> int:
    """µs since the Unix epoch, exactly (integer arithmetic, as Avro's timestamp-micros)."""
    return (at - _EPOCH) // _MICROSECOND


def content_digest(content: bytes, schema_id: int) -> bytes:
    """SHA-256 over the content's schema id (4 bytes, big-endian) and its Avro bytes."""
    return hashlib.sha256(schema_id.to_bytes(4, "big") + content).digest()


def _to_be_signed(digest: bytes, role: bytes, signed_at: dt.datetime) -> bytes:
    """The signed attributes: digest, role (ASCII) and signing time (µs), hashed."""
    return hashlib.sha256(digest + role + micros(signed_at).to_bytes(8, "big")).digest()


def _sign_raw(key: PrivateKey, digest: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), _PREHASHED)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(digest)
    return key.sign(digest, ec.ECDSA(_PREHASHED))


def sign_attributes(key: PrivateKey, digest: bytes, role: bytes,
                    signed_at: dt.datetime) -> bytes:
    """The signature over the signed attributes ``digest || role || signed_at``: RSA and ECDSA
    with SHA-256, Ed25519 over their SHA-256 (docs/contract.md §5)."""
    return _sign_raw(key, _to_be_signed(digest, role, signed_at))


def verify_attributes(issued: IssuedCertificate, value: bytes, digest: bytes, role: bytes,
                      signed_at: dt.datetime) -> None:
    """Raise ``InvalidSignature`` unless ``value`` is ``sign_attributes`` of the same bytes by
    the key of ``issued`` (``SignatureError`` ``unsupported_key`` for a key of another kind)."""
    _verify_raw(issued, value, _to_be_signed(digest, role, signed_at))


def signature_value(key: PrivateKey, digest: bytes, role: SignatureRole,
                    signed_at: dt.datetime) -> bytes:
    """The signature bytes over ``digest`` in ``role`` at ``signed_at`` (what ``sign`` puts in a
    block; a signing pool process computes them from the key alone)."""
    return sign_attributes(key, digest, role.value.encode(), signed_at)


def block_of(credential: Credential, value: bytes, signed_at: dt.datetime) -> SignatureBlock:
    """The signature block of ``value``, made with ``credential`` at ``signed_at``."""
    role = credential.issued.role
    if role is None:
        raise ValueError("a CA certificate does not sign documents")
    return SignatureBlock(role, credential.issued.serial, signed_at, value,
                          credential.issued.der or None)


def sign(credential: Credential, digest: bytes, signed_at: dt.datetime) -> SignatureBlock:
    """Sign ``digest`` (the SHA-256 of the content bytes) with a credential."""
    role = credential.issued.role
    if role is None:
        raise ValueError("a CA certificate does not sign documents")
    return block_of(credential, signature_value(credential.key, digest, role, signed_at),
                    signed_at)


def _verify_raw(issued: IssuedCertificate, value: bytes, digest: bytes) -> None:
    key = issued.certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(value, digest, padding.PKCS1v15(), _PREHASHED)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(value, digest)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(value, digest, ec.ECDSA(_PREHASHED))
    else:  # pragma: no cover - the PKI issues only the three kinds above
        raise SignatureError(f"certificate {issued.serial} has an unsupported key type",
                             reason="unsupported_key")


class SignatureVerifier:
    """Verifies signature blocks against a certificate directory (chain results are cached)."""

    def __init__(self, directory: CertificateDirectory) -> None:
        self.directory = directory
        self._chain_ok: dict[bytes, bool] = {}
        """By certificate bytes: a carried certificate may reuse a known serial."""

    def check_digest(self, content: bytes, schema_id: int, digest: bytes) -> None:
        if not hmac.compare_digest(content_digest(content, schema_id), digest):
            raise SignatureError("content does not match its digest: the document was altered "
                                 "after signing", reason="tampered")

    def verify(self, block: SignatureBlock, digest: bytes, *, sender: str, role: SignatureRole,
               now: dt.datetime | None = None) -> IssuedCertificate:
        """Raise ``SignatureError`` with a reason unless ``block`` is a valid ``role`` signature
        of ``sender`` over ``digest``; return the signer's certificate."""
        issued = self.signer(block.certificate_serial, block.certificate, block.signed_at,
                             now=now)
        if block.role is not role or issued.role is not role:
            raise SignatureError(f"a {issued.role.value if issued.role else 'CA'} certificate's "
                                 f"{block.role.value} signature sits where the {role.value} "
                                 "signature belongs", reason="wrong_role")
        if issued.agency_code != sender:
            raise SignatureError(f"{block.role.value.lower()} signature by a certificate of "
                                 f"{issued.agency_code}, but the sender is {sender}",
                                 reason="signer_not_sender")
        try:
            verify_attributes(issued, block.value, digest, block.role.value.encode(),
                              block.signed_at)
        except InvalidSignature:
            raise SignatureError(f"{block.role.value.lower()} signature does not verify with "
                                 f"certificate {issued.serial}", reason="bad_signature") from None
        return issued

    def signer(self, serial: str, certificate: bytes | None, signed_at: dt.datetime, *,
               now: dt.datetime | None = None) -> IssuedCertificate:
        """The certificate a signature made at ``signed_at`` names (the one it carries, or by
        ``serial``), checked as §5 says in steps 2 to 6: known and an end entity's
        (``unknown_certificate``), chained to a trusted root (``unknown_issuer``), not revoked
        (``revoked``), ``signed_at`` not in the future (``signed_in_future``) and within its
        validity (``expired`` / ``not_yet_valid``); ``SignatureError`` with the reason."""
        issued = (self.directory.get(serial) if certificate is None
                  else self.directory.carried(certificate))
        if issued is None or issued.role is None:
            raise SignatureError(f"certificate {serial} is not in the directory",
                                 reason="unknown_certificate")
        if not self._chains_to_root(issued):
            raise SignatureError(f"certificate {issued.serial} does not chain to the government "
                                 "root CA", reason="unknown_issuer")
        if issued.serial in self.directory.revoked:
            raise SignatureError(f"certificate {issued.serial} is revoked", reason="revoked")
        if signed_at > (now or dt.datetime.now(dt.UTC)) + CLOCK_SKEW:
            raise SignatureError(f"signing time {signed_at:%Y-%m-%d %H:%M} is in the future",
                                 reason="signed_in_future")
        if signed_at > issued.not_after:
            raise SignatureError(f"certificate {issued.serial} expired {issued.not_after:%Y-%m-%d} "
                                 f"before signing at {signed_at:%Y-%m-%d}", reason="expired")
        if signed_at < issued.not_before:
            raise SignatureError(f"certificate {issued.serial} was not yet valid at signing",
                                 reason="not_yet_valid")
        return issued

    def _chains_to_root(self, issued: IssuedCertificate) -> bool:
        ok = self._chain_ok.get(issued.der)
        if ok is None:
            ok = any(_issued_by(issued, issuing) and _issued_by(issuing, root)
                     for root, issuing in self.directory.anchors)
            self._chain_ok[issued.der] = ok
        return ok


def _issued_by(child: IssuedCertificate, parent: IssuedCertificate) -> bool:
    try:
        child.certificate.verify_directly_issued_by(parent.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
