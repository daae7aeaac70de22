"""The status seal of docs/contract.md §7a: what a seal covers, signing it, and the agency-seal
credentials it is made with (``--pki DIR``: ``keys/<CODE>-agency.key`` and
``certs/<CODE>-agency.pem``, written by ``lgsp simulate --pki-out`` for an external recipient).

::

    status_digest = SHA-256(document_id 0x1F recipient 0x1F status_code 0x1F reason 0x1F timestamp)
    tbs           = status_digest || "STATUS" || signed_at (8 bytes, µs, unsigned big-endian)

``value`` is made over ``tbs`` as a document signature is (§5): RSA PKCS#1 v1.5 and ECDSA with
SHA-256 over ``tbs``, Ed25519 over the 32 bytes ``SHA-256(tbs)``.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

log = logging.getLogger("reference_recipient")

SEPARATOR = b"\x1f"
ROLE = b"STATUS"
SealKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def status_digest(document_id: str, recipient: str, status_code: str | None,
                  reason: str | None, timestamp_us: int) -> bytes:
    """SHA-256 over the status's five fields, UTF-8, separated by 0x1F; a null reason (or code)
    is empty, the timestamp is its µs as a decimal number."""
    fields = (document_id, recipient, status_code or "", reason or "", str(timestamp_us))
    return hashlib.sha256(SEPARATOR.join(f.encode("utf-8") for f in fields)).digest()


def seal_tbs(digest: bytes, signed_at_us: int) -> bytes:
    """What the seal's value signs: the status digest || "STATUS" || signed_at."""
    return digest + ROLE + struct.pack(">Q", signed_at_us)


def sign_value(key: SealKey, message: bytes) -> bytes:
    """The signature over ``message`` as §5's table says for the key's type."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    return key.sign(hashlib.sha256(message).digest())


@dataclass(frozen=True, slots=True)
class SealCredential:
    """An agency-seal certificate and its private key."""

    certificate: x509.Certificate
    key: SealKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)

    def seal(self, status: dict[str, Any], signed_at_us: int) -> dict[str, Any]:
        """The ``seal`` field (a ``StatusSeal`` record) of ``status``, as it will be sent."""
        digest = status_digest(status["document_id"], status["recipient"],
                               status["status_code"], status["reason"], status["timestamp"])
        return {"certificate_serial": format(self.certificate.serial_number, "x"),
                "signed_at": signed_at_us,
                "value": sign_value(self.key, seal_tbs(digest, signed_at_us)),
                "certificate": self.der}


def read_key(path: Path) -> SealKey:
    """An unencrypted PEM private key of a type §5 knows (``ValueError`` otherwise)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                      | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path}: not an RSA, ECDSA or Ed25519 key")
    return key


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


@dataclass
class OwnSeals:
    """Each agency's own seal, from ``DIR/keys/<CODE>-agency.key`` and
    ``DIR/certs/<CODE>-agency.pem``: waited for like the trust anchors, read again whenever
    either file changes (a new run, a new CA), kept as it was while the new files are not yet
    a readable, matching pair."""

    directory: Path
    agencies: tuple[str, ...]
    credentials: dict[str, SealCredential] = field(default_factory=dict)
    _stamps: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _failed: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def paths(self, agency: str) -> tuple[Path, Path]:
        """(key, certificate) of ``agency``'s seal."""
        return (self.directory / "keys" / f"{agency}-agency.key",
                self.directory / "certs" / f"{agency}-agency.pem")

    def try_load(self) -> bool:
        """Load (or reload) every agency's seal; True once all of them are there."""
        for agency in self.agencies:
            self._refresh(agency)
        return all(agency in self.credentials for agency in self.agencies)

    def of(self, agency: str) -> SealCredential:
        """``agency``'s seal, its files read again first if they changed."""
        self._refresh(agency)
        return self.credentials[agency]

    def _refresh(self, agency: str) -> None:
        key_path, cert_path = self.paths(agency)
        try:
            stats = [path.stat() for path in (key_path, cert_path)]
        except OSError:
            return  # not written yet
        # the inode too: a new key file replaces the old one whole, maybe within the same
        # clock tick (file times are coarse) and with the same size
        stamp = tuple(n for st in stats for n in (st.st_ino, st.st_mtime_ns, st.st_size))
        if stamp in (self._stamps.get(agency), self._failed.get(agency)):
            return
        try:
            key = read_key(key_path)
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if _spki(key.public_key()) != _spki(certificate.public_key()):
                raise ValueError("the key is not the certificate's")
        except (OSError, ValueError, TypeError) as exc:  # being written: try again later
            self._failed[agency] = stamp
            log.debug("seal of %s not readable yet: %s", agency, exc)
            return
        self.credentials[agency] = SealCredential(certificate, key)
        self._stamps[agency] = stamp
        log.info("seal of %s loaded: certificate %x", agency, certificate.serial_number)
