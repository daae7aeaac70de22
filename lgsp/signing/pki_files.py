"""A run's PKI as files a user (or another run) can reach: ``--pki-out DIR`` and ``--pki DIR``.

The layout, all PEM::

    DIR/root-ca.pem            the trust anchor (self-signed)
    DIR/issuing-ca.pem         the issuing CA, signed by the root
    DIR/chain.pem              issuing CA then root: ``openssl verify -CAfile DIR/chain.pem``
    DIR/issuing-ca.key         the issuing CA's private key (PKCS#8, unencrypted: a simulation
                               key) so another run can issue from this CA (``--pki DIR``)
    DIR/crl.pem                the issuing CA's revocation list (X.509 CRL v2)
    DIR/certs/<CODE>-agency.pem    each agency's seal certificate
    DIR/certs/<CODE>-personal.pem  its head official's personal certificate
    DIR/keys/<CODE>-agency.key     the seal key of an agency an outside service plays
                                   (``--external recipient=CODE``; PKCS#8, unencrypted), so
                                   it seals its statuses (docs/contract.md §7a)
    DIR/faulty/<CODE>-<fault>.pem  seals issued for fault injection (expired, revoked,
                                   rogue-issuer: the last does not chain to the root)
    DIR/keys/<CODE>-agency.key     the seal key (PKCS#8, unencrypted: a simulation key) of each
                                   agency an outside service plays (``--external recipient``),
                                   to seal its statuses with (docs/contract.md §7a)

Every certificate carries Subject and Authority Key Identifiers, so the chains pass
``openssl verify -x509_strict``. A certificate names its agency in the subject's
organizationIdentifier (OID 2.5.4.97) and its role in the organizationalUnitName.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lgsp.errors import ConfigError
from lgsp.signing.keys import PrivateKey, SignatureAlgorithm
from lgsp.signing.pki import Authority, Pki, PkiExport, SignatureRole

ROOT = "root-ca.pem"
ISSUING = "issuing-ca.pem"
CHAIN = "chain.pem"
ISSUING_KEY = "issuing-ca.key"
CRL = "crl.pem"
CERTS = "certs"
FAULTY = "faulty"
KEYS = "keys"
CRL_VALIDITY = dt.timedelta(days=7)
Fail = Callable[[str], ConfigError]
_ROLE_SUFFIX = {SignatureRole.AGENCY: "agency", SignatureRole.PERSONAL: "personal"}


@dataclass(frozen=True, slots=True)
class PkiFiles:
    """What ``write_pki`` wrote."""

    directory: Path
    certificates: int
    """Agency and personal certificates (``certs/``)."""
    faulty: int
    revoked: int
    keys: int = 0
    """Seal keys written for outside services (``keys/``)."""


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def prepare_pki_out(directory: Path) -> None:
    """Make ``directory`` (``--pki-out``) or say in one line why it cannot hold the PKI, before
    a run starts anything."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--pki-out {directory}: cannot create it ({exc.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"--pki-out {directory}: the directory is not writable")


def seal_key_path(directory: Path, agency_code: str) -> Path:
    """Where ``write_pki`` puts an outside agency's seal key."""
    return directory / KEYS / f"{agency_code}-{_ROLE_SUFFIX[SignatureRole.AGENCY]}.key"


def write_pki(pki: Pki, directory: Path, *, now: dt.datetime | None = None,
              seal_keys: Collection[str] = ()) -> PkiFiles:
    """Write ``pki``'s CA, issued certificates and CRL under ``directory`` (made if missing),
    and the seal key of each agency of ``seal_keys`` (issued before: ``Pki.agency_seal``) —
    after its certificate and before the CRL, the last of the trust anchors, so a service
    polling for them finds the certificate of a key it reads."""
    export = pki.export()
    root = x509.load_der_x509_certificate(export.root)
    issuing = x509.load_der_x509_certificate(export.issuing_ca)
    try:
        (directory / CERTS).mkdir(parents=True, exist_ok=True)
        (directory / FAULTY).mkdir(exist_ok=True)
        (directory / ROOT).write_bytes(_pem(root))
        (directory / ISSUING).write_bytes(_pem(issuing))
        (directory / CHAIN).write_bytes(_pem(issuing) + _pem(root))
        _write_key(directory / ISSUING_KEY, pki.issuing_key)
        for code, role, der in (*export.known, *export.issued):
            (directory / CERTS / f"{code}-{_ROLE_SUFFIX[role]}.pem").write_bytes(
                _pem(x509.load_der_x509_certificate(der)))
        for code, fault, der in export.faulty:
            (directory / FAULTY / f"{code}-{fault.value}.pem").write_bytes(
                _pem(x509.load_der_x509_certificate(der)))
        for code in seal_keys:
            _write_key(seal_key_path(directory, code), pki.keys.get(pki.key_labels(code)[0]))
        revoked = export.revoked_serials()
        (directory / CRL).write_bytes(
            _crl(issuing, pki.issuing_key, pki.algorithm, revoked, now).public_bytes(Encoding.PEM))
    except OSError as exc:
        raise ConfigError(f"--pki-out {directory}: cannot write the PKI there ({exc.strerror})"
                          ) from None
    return PkiFiles(directory, len({(c, r) for c, r, _ in (*export.known, *export.issued)}),
                    len(export.faulty), len(revoked), len(seal_keys))


def _write_key(path: Path, key: PrivateKey) -> None:
    """A private key as unencrypted PKCS#8 PEM, readable by its owner only, replaced whole (a
    service polling for it never reads half a key)."""
    path.parent.mkdir(exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def _crl(issuing: x509.Certificate, key: PrivateKey, algorithm: SignatureAlgorithm,
         serials: list[str], now: dt.datetime | None) -> x509.CertificateRevocationList:
    at = now or dt.datetime.now(dt.UTC)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuing.subject).last_update(at).next_update(at + CRL_VALIDITY)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   key.public_key()), critical=False)
               .add_extension(x509.CRLNumber(1), critical=False))
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(serial, 16))
            .revocation_date(at).build())
    digest = None if algorithm is SignatureAlgorithm.ED25519 else hashes.SHA256()
    return builder.sign(key, digest)


def load_authority(directory: Path) -> Authority:
    """The CA of a ``--pki-out`` directory, checked: ``ConfigError`` (one line, exit 2) when a
    file is missing or unreadable, the issuing CA is not signed by the root, or the key is not
    the issuing CA's."""
    fail = _pki_failure(directory)
    root, issuing, known, revoked = _trusted_ca(directory, fail)
    try:
        key = serialization.load_pem_private_key((directory / ISSUING_KEY).read_bytes(),
                                                 password=None)
    except FileNotFoundError:
        raise fail(f"{ISSUING_KEY} is missing (a run needs the issuing CA's key to issue "
                   "from it)") from None
    except (OSError, ValueError, TypeError):
        raise fail(f"{ISSUING_KEY} is not a readable unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
                      | ec.EllipticCurvePrivateKey):
        raise fail(f"{ISSUING_KEY} holds an unsupported key type")
    if _spki(issuing.public_key()) != _spki(key.public_key()):
        raise fail(f"{ISSUING_KEY} is not the key of {ISSUING}")
    return Authority(root=root, issuing_ca=issuing, issuing_key=key,
                     algorithm=_algorithm(key), known=known, revoked=revoked)


def load_trust(directory: Path) -> PkiExport:
    """The trust anchors of a ``--pki-out`` directory, for a run that only verifies (a bus-only
    run): root and issuing CA, the certificates it issued and its CRL, checked as
    ``load_authority`` checks them; the issuing CA's key is not needed."""
    fail = _pki_failure(directory)
    root, issuing, known, revoked = _trusted_ca(directory, fail)
    return PkiExport(_certificate_algorithm(issuing), root.public_bytes(Encoding.DER),
                     issuing.public_bytes(Encoding.DER), (),
                     known=tuple((code, role, cert.public_bytes(Encoding.DER))
                                 for code, role, cert in known),
                     revoked=revoked)


def trust_from_anchors(anchors: dict[str, list[str]], source: str) -> tuple[PkiExport, ...]:
    """PKIs to trust from a capture's trust anchors (``lgsp.trust``: roots and issuing CAs as
    PEM, one pair per CA): each issuing CA with the root that signed it. ``ConfigError`` when
    there are none or one chains to none of the roots."""
    def fail(why: str) -> ConfigError:
        return ConfigError(f"--trust-capture {source}: {why}")

    try:
        roots = [x509.load_pem_x509_certificate(pem.encode())
                 for pem in anchors.get("roots", [])]
        issuing_cas = [x509.load_pem_x509_certificate(pem.encode())
                       for pem in anchors.get("issuing_cas", [])]
    except ValueError:
        raise fail("its trust anchors are not readable PEM certificates") from None
    if not issuing_cas:
        raise fail("the capture carries no trust anchors (recorded by lgsp record, or before "
                   "captures carried them); give --pki DIR of the senders' CA instead")
    exports = []
    for issuing in issuing_cas:
        root = next((r for r in roots if _signed_by(issuing, r)), None)
        if root is None:
            raise fail(f"issuing CA {issuing.subject.rfc4514_string()} is signed by none of "
                       "the capture's roots")
        exports.append(PkiExport(_certificate_algorithm(issuing), root.public_bytes(Encoding.DER),
                                 issuing.public_bytes(Encoding.DER), ()))
    return tuple(exports)


def _pki_failure(directory: Path) -> Fail:
    def fail(why: str) -> ConfigError:
        return ConfigError(f"--pki {directory}: {why}; give a directory written by "
                           "lgsp simulate --pki-out")

    return fail


def _trusted_ca(directory: Path, fail: Fail) -> tuple[
        x509.Certificate, x509.Certificate,
        tuple[tuple[str, SignatureRole, x509.Certificate], ...], tuple[str, ...]]:
    """Root, issuing CA, the certificates it issued and its revoked serials, checked."""
    if not directory.is_dir():
        raise fail("not a directory")
    root = _read_cert(directory / ROOT, fail)
    issuing = _read_cert(directory / ISSUING, fail)
    if not _signed_by(root, root):
        raise fail(f"{ROOT} is not a self-signed root CA")
    if not _signed_by(issuing, root):
        raise fail(f"{ISSUING} is not signed by {ROOT}")
    known = []
    for path in sorted((directory / CERTS).glob("*.pem")):
        code, _, suffix = path.stem.rpartition("-")
        role = next((r for r, s in _ROLE_SUFFIX.items() if s == suffix), None)
        if not code or role is None:
            raise fail(f"{CERTS}/{path.name} is not named <CODE>-agency.pem or "
                       "<CODE>-personal.pem")
        cert = _read_cert(path, fail)
        if not _signed_by(cert, issuing):
            raise fail(f"{CERTS}/{path.name} is not issued by {ISSUING}")
        known.append((code, role, cert))
    return root, issuing, tuple(known), _revoked(directory / CRL, issuing, fail)


def _certificate_algorithm(certificate: x509.Certificate) -> SignatureAlgorithm:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return SignatureAlgorithm.RSA2048
    if isinstance(key, ed25519.Ed25519PublicKey):
        return SignatureAlgorithm.ED25519
    return SignatureAlgorithm.P256


def _read_cert(path: Path, fail: Fail) -> x509.Certificate:
    name = path.name if path.parent.name != CERTS else f"{CERTS}/{path.name}"
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise fail(f"{name} is missing") from None
    except (OSError, ValueError):
        raise fail(f"{name} is not a readable PEM certificate") from None


def _revoked(path: Path, issuing: x509.Certificate, fail: Fail) -> tuple[str, ...]:
    if not path.exists():
        return ()
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError):
        raise fail(f"{CRL} is not a readable PEM CRL") from None
    if not crl.is_signature_valid(issuing.public_key()):  # type: ignore[arg-type]  # a CA key
        raise fail(f"{CRL} is not signed by {ISSUING}")
    return tuple(sorted(format(r.serial_number, "x") for r in crl))


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _spki(key: CertificatePublicKeyTypes | PublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _algorithm(key: PrivateKey) -> SignatureAlgorithm:
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureAlgorithm.RSA2048
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SignatureAlgorithm.ED25519
    return SignatureAlgorithm.P256


def trust_anchors(*exports: PkiExport) -> dict[str, list[str]]:
    """The root and issuing CA certificates (PEM) of these PKIs, without repeats: what a capture
    carries so its signatures can be audited without the run."""
    roots: list[str] = []
    issuing: list[str] = []
    for export in exports:
        for der, into in ((export.root, roots), (export.issuing_ca, issuing)):
            pem = _pem(x509.load_der_x509_certificate(der)).decode()
            if pem not in into:
                into.append(pem)
    return {"roots": roots, "issuing_cas": issuing} if exports else {}
