"""A generated government PKI: root CA → issuing CA → agency and personal certificates.

Every agency gets an *agency* certificate (the seal the clerk applies after numbering) and its head
official a *personal* certificate. Both carry the agency's QCVN 102 code in the subject's
organizationIdentifier (OID 2.5.4.97), which is how a verifier checks that the signer belongs to
the sending agency. The ``CertificateDirectory`` holds the trust anchors and the revocation list,
and resolves a signer's certificate: the one a signature carries (as edXML's KeyInfo/X509Data),
or, for older records that name only a serial, by serial as an LDAP directory would serve it.
Certificates carry Subject and Authority Key Identifiers (RFC 5280; ``openssl verify
-x509_strict``). ``lgsp.signing.pki_files`` writes a PKI to a directory and reads it back.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import NameOID

from lgsp.signing.keys import KeyStore, PrivateKey, SignatureAlgorithm

CERT_VALIDITY = dt.timedelta(days=3 * 365)
MAX_CARRIED = 100_000
"""Carried certificates a directory keeps parsed (a run issues two per agency)."""


class SignatureRole(StrEnum):
    PERSONAL = "PERSONAL"   # the competent person's signature
    AGENCY = "AGENCY"       # the agency's signature, applied by the clerk


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate with the facts a verifier needs, parsed once."""

    certificate: x509.Certificate
    serial: str
    """Lower-case hex serial number: how documents name the certificate."""
    agency_code: str
    role: SignatureRole | None
    """None for CA certificates."""
    not_before: dt.datetime
    not_after: dt.datetime
    der: bytes = b""
    """The certificate's DER bytes: what a signature carries (edXML KeyInfo/X509Data)."""


@dataclass(frozen=True, slots=True)
class Credential:
    """What a signer holds: its certificate and private key."""

    issued: IssuedCertificate
    key: PrivateKey


def _issued(certificate: x509.Certificate, agency_code: str,
            role: SignatureRole | None) -> IssuedCertificate:
    return IssuedCertificate(
        certificate=certificate, serial=format(certificate.serial_number, "x"),
        agency_code=agency_code, role=role, not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc, der=certificate.public_bytes(Encoding.DER))


def described(certificate: x509.Certificate) -> IssuedCertificate:
    """An end-entity certificate known only by its own bytes (carried in a signature): the
    agency from the subject's organizationIdentifier, the role from its organizationalUnitName
    (``agency-seal…`` or ``AGENCY``: the agency's seal; anything else: a personal certificate)."""
    subject = certificate.subject
    codes = subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    units = subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    unit = str(units[0].value) if units else ""
    role = (SignatureRole.AGENCY if unit.startswith("agency-seal") or unit == "AGENCY"
            else SignatureRole.PERSONAL)
    return _issued(certificate, str(codes[0].value) if codes else "", role)


class CertificateFault(StrEnum):
    """An extra agency-seal certificate that must fail verification (fault injection)."""

    EXPIRED = "expired"
    """Expired a month before the run."""
    REVOKED = "revoked"
    """Valid dates, revoked by the CA before the run (published on the revocation topic)."""
    ROGUE_ISSUER = "rogue-issuer"
    """Issued by a CA that does not chain to the government root."""


@dataclass(frozen=True, slots=True)
class PkiExport:
    """A run's CA and issued certificates (DER), without private keys: how the coordinator hands
    one PKI to every worker process. Keys come from the shared key cache."""

    algorithm: SignatureAlgorithm
    root: bytes
    issuing_ca: bytes
    issued: tuple[tuple[str, SignatureRole, bytes], ...]
    """(agency code, role, certificate) of every credential issued so far."""
    faulty: tuple[tuple[str, CertificateFault, bytes], ...] = ()
    """(agency code, fault, certificate) of the faulty seals issued for fault injection."""
    known: tuple[tuple[str, SignatureRole, bytes], ...] = ()
    """(agency code, role, certificate) issued before this run by the CA it issues from
    (``--pki DIR``): verifiers resolve them like the run's own."""
    revoked: tuple[str, ...] = ()
    """Serials that CA had revoked before this run (its CRL)."""
    issuing_key: bytes | None = None
    """The issuing CA's private key (PKCS#8 PEM), only in what a host hands its own worker
    processes so they can issue too (a recipient's seal, on its first status); never in what
    hosts exchange."""

    def revoked_serials(self) -> list[str]:
        """Serials of the certificates issued to be revoked, and those the CA had revoked
        before (the CA publishes them)."""
        return sorted({format(x509.load_der_x509_certificate(der).serial_number, "x")
                       for _, fault, der in self.faulty if fault is CertificateFault.REVOKED}
                      | set(self.revoked))

    def to_json(self) -> dict[str, object]:
        """JSON-safe (base64 DER): how hosts of one load exchange their CAs over Kafka."""
        return {"algorithm": self.algorithm.value, "root": _b64(self.root),
                "issuing_ca": _b64(self.issuing_ca),
                "issued": [[code, role.value, _b64(der)] for code, role, der in self.issued],
                "faulty": [[code, fault.value, _b64(der)] for code, fault, der in self.faulty],
                "known": [[code, role.value, _b64(der)] for code, role, der in self.known],
                "revoked": list(self.revoked),
                **({"issuing_key": self.issuing_key.decode()} if self.issuing_key else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PkiExport:
        return cls(SignatureAlgorithm(data["algorithm"]), base64.b64decode(data["root"]),
                   base64.b64decode(data["issuing_ca"]),
                   tuple((code, SignatureRole(role), base64.b64decode(der))
                         for code, role, der in data["issued"]),
                   tuple((code, CertificateFault(fault), base64.b64decode(der))
                         for code, fault, der in data.get("faulty", ())),
                   tuple((code, SignatureRole(role), base64.b64decode(der))
                         for code, role, der in data.get("known", ())),
                   tuple(data.get("revoked", ())),
                   data["issuing_key"].encode() if data.get("issuing_key") else None)


def _same_key(issued: IssuedCertificate, key: PrivateKey) -> bool:
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return bool(issued.certificate.public_key().public_bytes(*spki)
                == key.public_key().public_bytes(*spki))


def _load_key(pem: bytes) -> PrivateKey:
    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
                      | ec.EllipticCurvePrivateKey):
        raise ValueError("the exported issuing CA key has an unsupported type")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _name(common_name: str, *, organization: str | None = None, agency_code: str | None = None,
          unit: str | None = None, title: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if agency_code:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, agency_code))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    if title:
        attrs.append(x509.NameAttribute(NameOID.TITLE, title))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _hash_for(algorithm: SignatureAlgorithm) -> hashes.SHA256 | None:
    return None if algorithm is SignatureAlgorithm.ED25519 else hashes.SHA256()


@dataclass(frozen=True, slots=True)
class Authority:
    """An existing CA a run issues from and trusts (``--pki DIR``, ``lgsp.signing.pki_files``):
    its root and issuing CA certificates, the issuing CA's key, and what it issued and revoked
    before. Every certificate the run needs and ``known`` lacks is issued anew by this CA."""

    root: x509.Certificate
    issuing_ca: x509.Certificate
    issuing_key: PrivateKey
    algorithm: SignatureAlgorithm
    known: tuple[tuple[str, SignatureRole, x509.Certificate], ...] = ()
    """(agency code, role, certificate): reused when the key cache holds its key."""
    revoked: tuple[str, ...] = ()
    """Hex serials on the CA's revocation list."""


class CertificateDirectory:
    """The trust anchors, the certificates known by serial or carried by signatures, and the
    revoked serials."""

    def __init__(self, root: IssuedCertificate, issuing_ca: IssuedCertificate) -> None:
        self.root = root
        self.issuing_ca = issuing_ca
        self.anchors: list[tuple[IssuedCertificate, IssuedCertificate]] = [(root, issuing_ca)]
        """(root, issuing CA) chains trusted: the run's own, and other hosts' of a shared load."""
        self._by_serial: dict[str, IssuedCertificate] = {root.serial: root,
                                                          issuing_ca.serial: issuing_ca}
        self._by_der: dict[bytes, IssuedCertificate] = {}
        """Every certificate by its DER bytes: those known, and those signatures carried
        (parsed once)."""
        self.revoked: set[str] = set()
        """Serials the CA revoked (applied as its revocation topic is read)."""

    def trust(self, export: PkiExport) -> None:
        """Trust another CA of the same load (another host's) and know its certificates."""
        root = _issued(x509.load_der_x509_certificate(export.root), "", None)
        issuing = _issued(x509.load_der_x509_certificate(export.issuing_ca), "", None)
        if all(issuing.serial != known.serial for _, known in self.anchors):
            self.anchors.append((root, issuing))
        for code, role, der in export.issued:
            self.add(_issued(x509.load_der_x509_certificate(der), code, role))
        for code, _fault, der in export.faulty:
            self.add(_issued(x509.load_der_x509_certificate(der), code, SignatureRole.AGENCY))
        for code, role, der in export.known:
            self.add(_issued(x509.load_der_x509_certificate(der), code, role))

    def add(self, issued: IssuedCertificate) -> None:
        self._by_serial[issued.serial] = issued
        if issued.der:  # a signature carrying these very bytes needs no parsing
            self._by_der[issued.der] = issued

    def get(self, serial: str) -> IssuedCertificate | None:
        return self._by_serial.get(serial)

    def carried(self, der: bytes) -> IssuedCertificate | None:
        """The certificate a signature carries (DER), parsed once; None if unreadable. A
        certificate the directory knows by serial and bytes is that entry; any other is
        described from its own subject (its chain decides whether it is trusted)."""
        issued = self._by_der.get(der)
        if issued is None:
            try:
                certificate = x509.load_der_x509_certificate(der)
            except ValueError:
                return None
            known = self._by_serial.get(format(certificate.serial_number, "x"))
            issued = known if known is not None and known.der == der else described(certificate)
            if len(self._by_der) < MAX_CARRIED:
                self._by_der[der] = issued
        return issued

    def revoke(self, serial: str) -> None:
        self.revoked.add(serial)

    def __len__(self) -> int:
        return len(self._by_serial)


class Pki:
    """The run's certificate authority; issues agency and personal credentials on demand."""

    def __init__(self, algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA2048, *,
                 cache_dir: Path | None = None, now: dt.datetime | None = None,
                 restore: PkiExport | None = None, trust: tuple[PkiExport, ...] = (),
                 authority: Authority | None = None) -> None:
        """A new CA, with ``authority`` an existing one, or with ``restore`` the CA (and
        certificates) another process exported."""
        if restore is not None:
            algorithm = restore.algorithm
        elif authority is not None:
            algorithm = authority.algorithm
        self.algorithm = algorithm
        self.keys = KeyStore(algorithm, cache_dir)
        self.now = now or dt.datetime.now(dt.UTC)
        self._issued: dict[tuple[str, SignatureRole], IssuedCertificate] = {}
        self._known: dict[tuple[str, SignatureRole], IssuedCertificate] = {}
        """Certificates the authority issued before, reused when their key is ours."""
        self._revoked_before: tuple[str, ...] = ()
        self._ca_key: PrivateKey | None
        if authority is not None and restore is None:
            self._root = _issued(authority.root, "", None)
            self._issuing = _issued(authority.issuing_ca, "", None)
            self._ca_key = authority.issuing_key
            self._known = {(code, role): _issued(cert, code, role)
                           for code, role, cert in authority.known}
            self._revoked_before = authority.revoked
        elif restore is None:
            root_key = self.keys.get("ca-root")
            root_name = _name("Root CA Chính phủ (mô phỏng)", organization="Ban Cơ yếu Chính phủ")
            self._ca_key = self.keys.get("ca-issuing")
            ca_name = _name("CA phục vụ các cơ quan nhà nước (mô phỏng)",
                            organization="Ban Cơ yếu Chính phủ")
            self._root = self._issue(root_name, root_key, root_name, root_key, ca=True,
                                     agency_code="", role=None, path_length=1)
            self._issuing = self._issue(ca_name, self._ca_key, root_name, root_key, ca=True,
                                        agency_code="", role=None, path_length=0)
        else:
            self._root = _issued(x509.load_der_x509_certificate(restore.root), "", None)
            self._issuing = _issued(x509.load_der_x509_certificate(restore.issuing_ca), "",
                                    None)
            self._ca_key = None if restore.issuing_key is None else _load_key(restore.issuing_key)
        self._ca_name = self._issuing.certificate.subject
        self.directory = CertificateDirectory(self._root, self._issuing)
        self._credentials: dict[tuple[str, SignatureRole], Credential] = {}
        for code, role, der in restore.issued if restore is not None else ():
            issued = _issued(x509.load_der_x509_certificate(der), code, role)
            self._issued[(code, role)] = issued
            self.directory.add(issued)
        self._faulty: dict[tuple[str, CertificateFault], IssuedCertificate] = {}
        for code, fault, der in restore.faulty if restore is not None else ():
            issued = _issued(x509.load_der_x509_certificate(der), code, SignatureRole.AGENCY)
            self._faulty[(code, fault)] = issued
            self.directory.add(issued)
        for code, role, der in restore.known if restore is not None else ():
            self._known[(code, role)] = _issued(x509.load_der_x509_certificate(der), code, role)
        if restore is not None:
            self._revoked_before = restore.revoked
        for known in self._known.values():
            self.directory.add(known)
        self._restored = restore is not None
        for other in trust:
            self.directory.trust(other)

    @property
    def issuing_key(self) -> PrivateKey:
        """The issuing CA's private key (a simulation key), published with ``--pki-out`` so
        another run can issue from this CA; ``LookupError`` in a process that was handed the
        CA's certificates without its key (it only verifies)."""
        if self._ca_key is None:
            self._ca_key = self._cached_issuing_key()
        return self._ca_key

    def _cached_issuing_key(self) -> PrivateKey:
        """A restored CA handed without its key: the key cache's, if it is this CA's (a worker
        of a run whose coordinator made the CA from the same cache)."""
        key = self.keys.get("ca-issuing")
        if not _same_key(self._issuing, key):
            raise LookupError("this process holds the CA's certificates but not its key: it "
                              "cannot issue (export the PKI with_key for processes that issue)")
        return key

    def export(self, *, with_key: bool = False) -> PkiExport:
        """The CA and what it issued; ``with_key``: and the issuing CA's key, if this process
        holds it (what a host hands its own workers, never another host)."""
        return PkiExport(
            self.algorithm, self._root.certificate.public_bytes(Encoding.DER),
            self._issuing.certificate.public_bytes(Encoding.DER),
            tuple((code, role, issued.certificate.public_bytes(Encoding.DER))
                  for (code, role), issued in sorted(self._issued.items())),
            tuple((code, fault, issued.certificate.public_bytes(Encoding.DER))
                  for (code, fault), issued in sorted(self._faulty.items())),
            tuple((code, role, issued.certificate.public_bytes(Encoding.DER))
                  for (code, role), issued in sorted(self._known.items())),
            self._revoked_before,
            self._ca_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            if with_key and self._ca_key is not None else None)

    @staticmethod
    def key_labels(agency_code: str) -> list[str]:
        return [f"{agency_code}-agency", f"{agency_code}-personal"]

    def prepare(self, agency_codes: list[str]) -> int:
        """Make sure the keys of these agencies exist (in parallel); return how many were made."""
        return self.keys.ensure([label for c in agency_codes for label in self.key_labels(c)])

    def credential(self, agency_code: str, role: SignatureRole, *, holder: str,
                   organization: str, title: str | None = None) -> Credential:
        """The agency's (or its official's) credential, issued on first use."""
        cached = self._credentials.get((agency_code, role))
        if cached is not None:
            return cached
        label = self.key_labels(agency_code)[0 if role is SignatureRole.AGENCY else 1]
        key = self.keys.get(label)
        issued = self._issued.get((agency_code, role))  # exported by the coordinator
        known = self._known.get((agency_code, role))
        if issued is None and known is not None and _same_key(known, key):
            issued = known  # issued by the authority before (--pki DIR), for this very key
            self._issued[(agency_code, role)] = issued
        if issued is None:
            subject = _name(holder, organization=organization, agency_code=agency_code,
                            unit="agency-seal" if role is SignatureRole.AGENCY else "personal",
                            title=title)
            issued = self._issue(subject, key, self._ca_name, self.issuing_key, ca=False,
                                 agency_code=agency_code, role=role)
            self._issued[(agency_code, role)] = issued
            self.directory.add(issued)
        credential = Credential(issued, key)
        self._credentials[(agency_code, role)] = credential
        return credential

    def agency_seal(self, agency_code: str, agency_name: str) -> Credential:
        """The agency's seal (its ``agency-seal`` credential), issued on first use: what its
        clerk seals documents with and what it seals its statuses with."""
        return self.credential(agency_code, SignatureRole.AGENCY, holder=agency_name,
                               organization=agency_name)

    def prepare_seals(self, agency_codes: list[str]) -> int:
        """Make sure the seal keys of these agencies exist (in parallel; certificates are issued
        on first use); return how many were made."""
        return self.keys.ensure([self.key_labels(code)[0] for code in agency_codes])

    def issue_extra(self, agency_code: str, role: SignatureRole, *, holder: str,
                    not_before: dt.datetime, not_after: dt.datetime,
                    key: PrivateKey | None = None) -> Credential:
        """An additional certificate with chosen dates (expired or not yet valid, for faults)."""
        key = key or self.keys.get(self.key_labels(agency_code)[0 if role is SignatureRole.AGENCY
                                                                 else 1])
        subject = _name(holder, organization=holder, agency_code=agency_code, unit=role.value)
        issued = self._issue(subject, key, self._ca_name, self.issuing_key, ca=False,
                             agency_code=agency_code, role=role, not_before=not_before,
                             not_after=not_after)
        self.directory.add(issued)
        return Credential(issued, key)

    def faulty_seal(self, agency_code: str, fault: CertificateFault, *,
                    holder: str) -> Credential:
        """The agency's seal key under a certificate that must fail verification. Issued by the
        process that made the CA (before the run), restored elsewhere: every verifier must know
        the certificate before a document presents it."""
        key = self.keys.get(self.key_labels(agency_code)[0])
        issued = self._faulty.get((agency_code, fault))
        if issued is None:
            if self._restored:
                raise LookupError(f"no {fault.value} certificate was issued for {agency_code} "
                                  "before the run")
            subject = _name(holder, organization=holder, agency_code=agency_code,
                            unit=f"agency-seal ({fault.value})")
            if fault is CertificateFault.ROGUE_ISSUER:
                rogue_key = self.keys.get("ca-rogue")
                rogue = _name("CA không được công nhận (mô phỏng)", organization="Không rõ")
                issued = self._issue(subject, key, rogue, rogue_key, ca=False,
                                     agency_code=agency_code, role=SignatureRole.AGENCY)
            elif fault is CertificateFault.EXPIRED:
                issued = self._issue(subject, key, self._ca_name, self.issuing_key, ca=False,
                                     agency_code=agency_code, role=SignatureRole.AGENCY,
                                     not_before=self.now - dt.timedelta(days=400),
                                     not_after=self.now - dt.timedelta(days=30))
            else:
                issued = self._issue(subject, key, self._ca_name, self.issuing_key, ca=False,
                                     agency_code=agency_code, role=SignatureRole.AGENCY)
            self._faulty[(agency_code, fault)] = issued
            self.directory.add(issued)
        return Credential(issued, key)

    def _issue(self, subject: x509.Name, key: PrivateKey, issuer: x509.Name, issuer_key: PrivateKey,
               *, ca: bool, agency_code: str, role: SignatureRole | None,
               path_length: int | None = None, not_before: dt.datetime | None = None,
               not_after: dt.datetime | None = None) -> IssuedCertificate:
        start = not_before or (self.now - dt.timedelta(days=1))
        end = not_after or (start + CERT_VALIDITY)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
            # RFC 5280 §4.2.1.1-2 (and `openssl verify -x509_strict`): key identifiers link a
            # certificate to its issuer's key; the root's AKI is its own SKI.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
        )
        if ca:
            usage = x509.KeyUsage(digital_signature=False, content_commitment=False,
                                  key_encipherment=False, data_encipherment=False,
                                  key_agreement=False, key_cert_sign=True, crl_sign=True,
                                  encipher_only=False, decipher_only=False)
        else:
            usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                                  key_encipherment=False, data_encipherment=False,
                                  key_agreement=False, key_cert_sign=False, crl_sign=False,
                                  encipher_only=False, decipher_only=False)
        builder = builder.add_extension(usage, critical=True)
        return _issued(builder.sign(issuer_key, _hash_for(self.algorithm)), agency_code, role)
