"""Digest, content and signature checks of docs/contract.md §4–§5, in the contract's order.

Every check returns the contract's reason string of the first failure, or ``None``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

log = logging.getLogger("reference_recipient")

ORGANIZATION_IDENTIFIER = ObjectIdentifier("2.5.4.97")
ROLE_OF_UNIT = {"agency-seal": "AGENCY", "personal": "PERSONAL"}
FUTURE_TOLERANCE_US = 5 * 60 * 1_000_000
ANCHORS = ("root-ca.pem", "issuing-ca.pem", "crl.pem")


def content_digest(content_schema_id: int, content: bytes) -> bytes:
    """SHA-256(content_schema_id as 4 bytes unsigned big-endian || content)."""
    return hashlib.sha256(struct.pack(">I", content_schema_id) + content).digest()


def digest_matches(event: dict[str, Any]) -> bool:
    expected = content_digest(event["content_schema_id"], event["content"])
    return hmac.compare_digest(expected, bytes(event["content_digest"]))


def tbs(digest: bytes, role: str, signed_at_us: int) -> bytes:
    """The signed attributes: digest || role in ASCII || signed_at (8 bytes, big-endian µs)."""
    return digest + role.encode("ascii") + struct.pack(">Q", signed_at_us)


def serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def _attribute(name: x509.Name, oid: ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


@dataclass
class TrustStore:
    """The run's trust anchors (``--pki-out DIR``), reloaded when the files change, and the
    revoked serials (the CRL file and the revocation topic)."""

    directory: Path
    roots: list[x509.Certificate] = field(default_factory=list)
    issuing: list[x509.Certificate] = field(default_factory=list)
    known: dict[int, x509.Certificate] = field(default_factory=dict)
    crl_revoked: set[int] = field(default_factory=set)
    topic_revoked: set[int] = field(default_factory=set)
    _stamp: tuple[float, ...] = ()

    def try_load(self) -> bool:
        """Load the anchors if all three files are there and readable; True when loaded."""
        if not all((self.directory / name).is_file() for name in ANCHORS):
            return False
        try:
            self.load()
        except (ValueError, OSError) as exc:  # a file still being written: try again later
            log.debug("trust anchors not readable yet: %s", exc)
            return False
        return True

    def _files_stamp(self) -> tuple[float, ...]:
        paths = [self.directory / n for n in ANCHORS]
        for sub in ("certs", "faulty"):
            if (self.directory / sub).is_dir():
                paths.extend(sorted((self.directory / sub).glob("*.pem")))
        return tuple(p.stat().st_mtime_ns for p in paths if p.exists())

    def load(self) -> None:
        stamp = self._files_stamp()
        roots = x509.load_pem_x509_certificates((self.directory / "root-ca.pem").read_bytes())
        candidates = x509.load_pem_x509_certificates(
            (self.directory / "issuing-ca.pem").read_bytes())
        issuing = [ca for ca in candidates if any(_issued_by(ca, root) for root in roots)]
        if not issuing:
            raise ValueError("issuing-ca.pem holds no CA that root-ca.pem issued")
        crl = x509.load_pem_x509_crl((self.directory / "crl.pem").read_bytes())
        if not any(_crl_signed_by(crl, ca) for ca in issuing):
            raise ValueError("crl.pem is not signed by the issuing CA")
        known: dict[int, x509.Certificate] = {}
        for sub in ("certs", "faulty"):
            for path in sorted((self.directory / sub).glob("*.pem")) \
                    if (self.directory / sub).is_dir() else []:
                try:
                    for cert in x509.load_pem_x509_certificates(path.read_bytes()):
                        known[cert.serial_number] = cert
                except ValueError:
                    log.warning("unreadable certificate %s skipped", path)
        self.roots, self.issuing, self.known = roots, issuing, known
        self.crl_revoked = {entry.serial_number for entry in crl}
        self._stamp = stamp
        log.info("trust anchors loaded from %s: %d issuing CA(s), %d known certificates, "
                 "%d revoked in the CRL", self.directory, len(issuing), len(known),
                 len(self.crl_revoked))

    def reload_if_changed(self) -> bool:
        """Reload when a file changed (a new run may have written a new CA)."""
        try:
            if self._files_stamp() == self._stamp:
                return False
            self.load()
        except (ValueError, OSError) as exc:
            log.warning("trust anchors not reloaded: %s", exc)
            return False
        return True

    def revoke(self, serial_hex_text: str) -> None:
        self.topic_revoked.add(int(serial_hex_text, 16))

    def is_revoked(self, certificate: x509.Certificate) -> bool:
        return certificate.serial_number in self.crl_revoked \
            or certificate.serial_number in self.topic_revoked

    def chains(self, certificate: x509.Certificate) -> bool:
        """Issued by a trusted issuing CA that a trusted root issued (checked at load)."""
        return any(_issued_by(certificate, ca) for ca in self.issuing)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    try:
        return bool(crl.is_signature_valid(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def certificate_of(signature: dict[str, Any], trust: TrustStore) -> x509.Certificate | None:
    """The certificate the signature carries (v2), else the one its serial names (v1)."""
    der = signature.get("certificate")
    if der is not None:
        try:
            return x509.load_der_x509_certificate(bytes(der))
        except ValueError:
            return None
    try:
        serial = int(signature["certificate_serial"], 16)
    except ValueError:
        return None
    found = trust.known.get(serial)
    if found is None and trust.reload_if_changed():
        found = trust.known.get(serial)
    return found


def _verify_value(certificate: x509.Certificate, value: bytes, message: bytes) -> bool:
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(value, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(value, hashlib.sha256(message).digest())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def check_signature(signature: dict[str, Any], slot: str, digest: bytes, sender: str,
                    trust: TrustStore, now_us: int | None = None) -> str | None:
    """The contract's verification steps 2–9 for the signature in ``slot`` (PERSONAL or
    AGENCY); step 1 (the digest) is checked once per document before. First failure wins."""
    certificate = certificate_of(signature, trust)
    if certificate is None:
        return "unknown_certificate"
    if not trust.chains(certificate) and not (trust.reload_if_changed()
                                              and trust.chains(certificate)):
        return "unknown_issuer"
    if trust.is_revoked(certificate):
        return "revoked"
    signed_at = int(signature["signed_at"])
    now = time.time_ns() // 1000 if now_us is None else now_us
    if signed_at > now + FUTURE_TOLERANCE_US:
        return "signed_in_future"
    signed_time = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=signed_at)
    if signed_time < certificate.not_valid_before_utc:
        return "not_yet_valid"
    if signed_time > certificate.not_valid_after_utc:
        return "expired"
    unit = _attribute(certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if ROLE_OF_UNIT.get(unit or "") != slot or signature["role"] != slot:
        return "wrong_role"
    if _attribute(certificate.subject, ORGANIZATION_IDENTIFIER) != sender:
        return "signer_not_sender"
    if not _verify_value(certificate, bytes(signature["value"]),
                         tbs(digest, signature["role"], signed_at)):
        return "bad_signature"
    return None


def check_signatures(event: dict[str, Any], sender: str, trust: TrustStore, *,
                     require_personal: bool) -> str | None:
    """Both slots. A present personal signature is verified first, then the agency signature,
    which is required (``missing_agency_signature``); a missing personal signature is refused
    only when ``require_personal`` (``missing_personal_signature``). The contract does not say
    which slot's failure wins when both fail: this follows the order the record lists them."""
    digest = bytes(event["content_digest"])
    personal, agency = event.get("personal_signature"), event.get("agency_signature")
    if personal is not None:
        reason = check_signature(personal, "PERSONAL", digest, sender, trust)
        if reason is not None:
            return reason
    if agency is None:
        return "missing_agency_signature"
    reason = check_signature(agency, "AGENCY", digest, sender, trust)
    if reason is not None:
        return reason
    if require_personal and personal is None:
        return "missing_personal_signature"
    return None
