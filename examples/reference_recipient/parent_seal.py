"""``--seal-with-parent``, a misbehaviour: statuses sealed by another agency than the one that
answers (docs/contract.md §7a), so that a grader's ``status_sealed`` check must fail them.

The other agency is the answering agency's parent (QCVN 102: the code one level up,
``000.00.01.H56`` → ``000.00.00.H56``, which also sends a probe), or the document's sender for a
top-level unit (``000.00.00.H56``), which has none.

``--pki DIR`` holds no other agency's seal key (``keys/`` has only those of the agencies left to
outside services, ``certs/`` only certificates), but it holds the issuing CA's key
(``issuing-ca.key``, a simulation key). So the service has that CA issue the other agency an
agency-seal certificate, as the CA would (strictly valid: key identifiers, key usage), for a key
of its own making. The seal verifies and chains to the run's anchors; only its agency is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from examples.reference_recipient.seal import SealCredential, SealKey, read_key

CODE = re.compile(r"^(\d{3})\.(\d{2})\.(\d{2})\.([A-Z]\d{2})$")
VALIDITY = dt.timedelta(days=365)


def parent_of(code: str) -> str | None:
    """The code one level up (``NNN.NN.NN.XNN``: the first non-zero level is zeroed), or None
    for a top-level unit or a code of another shape."""
    found = CODE.match(code)
    if found is None:
        return None
    level4, level3, level2, unit = found.groups()
    if int(level4):
        return f"000.{level3}.{level2}.{unit}"
    if int(level3):
        return f"000.00.{level2}.{unit}"
    if int(level2):
        return f"000.00.00.{unit}"
    return None


def other_agency(recipient: str, sender: str) -> str:
    """Whose seal ``--seal-with-parent`` puts on ``recipient``'s statuses about a document of
    ``sender``."""
    return parent_of(recipient) or sender


def _new_key(like: SealKey) -> SealKey:
    if isinstance(like, rsa.RSAPrivateKey):
        return rsa.generate_private_key(public_exponent=65537, key_size=like.key_size)
    if isinstance(like, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(like.curve)
    return ed25519.Ed25519PrivateKey.generate()


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The issuer's own Subject Key Identifier, as RFC 5280 (and ``-x509_strict``) wants."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_cert.public_key())  # type: ignore[arg-type]  # a CA's key signs
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


@dataclass
class OtherSeals:
    """Agency-seal credentials of other agencies, issued here by ``DIR``'s issuing CA; issued
    again when that CA changes (a new run)."""

    directory: Path
    _issued: dict[tuple[str, bytes], SealCredential] = field(default_factory=dict)

    def can_issue(self) -> bool:
        """Whether ``DIR`` holds the issuing CA and its key (lgsp simulate --pki-out writes
        both)."""
        return all((self.directory / name).is_file()
                   for name in ("issuing-ca.pem", "issuing-ca.key"))

    def of(self, agency: str, like: SealCredential) -> SealCredential:
        """``agency``'s seal, with a key of the type of ``like`` (the answering agency's)."""
        ca_cert = x509.load_pem_x509_certificate(
            (self.directory / "issuing-ca.pem").read_bytes())
        issued = self._issued.get((agency, ca_cert.fingerprint(hashes.SHA256())))
        if issued is None:
            issued = self._issue(agency, ca_cert, read_key(self.directory / "issuing-ca.key"),
                                 _new_key(like.key))
            self._issued[(agency, ca_cert.fingerprint(hashes.SHA256()))] = issued
        return issued

    @staticmethod
    def _issue(agency: str, ca_cert: x509.Certificate, ca_key: SealKey,
               key: SealKey) -> SealCredential:
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"agency {agency}"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, agency),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "agency-seal"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"agency {agency}")])
        usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                              key_encipherment=False, data_encipherment=False,
                              key_agreement=False, key_cert_sign=False, crl_sign=False,
                              encipher_only=False, decipher_only=False)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(_authority_key_id(ca_cert), critical=False)
            .add_extension(usage, critical=True))
        digest = None if isinstance(ca_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        return SealCredential(builder.sign(ca_key, digest), key)
