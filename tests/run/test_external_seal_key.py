"""``--pki-out DIR`` with ``--external recipient=CODE``: the run writes that agency's seal
certificate and private key (docs/contract.md §7a, §8), issued by the run's CA, so the outside
service seals its statuses; ``--pki DIR`` reuses that certificate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from lgsp.external import ExternalParties
from lgsp.profiles import load_topology
from lgsp.run.config import SimulationConfig
from lgsp.run.credentials import issue_run_pki
from lgsp.signing import SignatureAlgorithm

OUTSIDE = ("000.00.01.H56", "000.00.00.G22")
"""A department of Thanh Hóa and a central body, both played by an outside service."""
SENDERS = ["000.00.00.H56", "000.00.02.H56"]


def _config(pki_cache: Path, algorithm: SignatureAlgorithm, *, pki_out: Path,
            pki_dir: Path | None = None) -> SimulationConfig:
    return SimulationConfig(run_id="seal-keys", pki_cache=pki_cache,
                            signature_algorithm=algorithm, external=ExternalParties(OUTSIDE),
                            pki_out=pki_out, pki_dir=pki_dir)


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)


def _spki(key: CertificatePublicKeyTypes | PublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("algorithm", list(SignatureAlgorithm), ids=lambda a: a.value)
def test_the_outside_agencys_seal_key_is_written_issued_by_the_runs_ca(pki_cache, tmp_path,
                                                                        algorithm):
    out = tmp_path / "pki"
    config = _config(pki_cache, algorithm, pki_out=out)
    topology = load_topology(list(config.profiles))
    issue_run_pki(config, topology, SENDERS)
    for code in OUTSIDE:
        cert_path = out / "certs" / f"{code}-agency.pem"
        key_path = out / "keys" / f"{code}-agency.key"
        assert cert_path.is_file(), sorted(out.rglob("*"))
        assert key_path.is_file(), sorted(out.rglob("*"))
        pem = key_path.read_bytes()
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
        assert key_path.stat().st_mode & 0o777 == 0o600
        key = serialization.load_pem_private_key(pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        assert _spki(key.public_key()) == _spki(cert.public_key())
        subject = cert.subject
        assert [a.value for a in subject.get_attributes_for_oid(
            NameOID.ORGANIZATION_IDENTIFIER)] == [code]
        assert [a.value for a in subject.get_attributes_for_oid(
            NameOID.ORGANIZATIONAL_UNIT_NAME)] == ["agency-seal"]
        # openssl agrees: the key is the certificate's, and the certificate chains strictly
        from_key = _openssl("pkey", "-in", f"keys/{code}-agency.key", "-pubout", cwd=out)
        from_cert = _openssl("x509", "-in", f"certs/{code}-agency.pem", "-pubkey", "-noout",
                             cwd=out)
        assert from_key.returncode == from_cert.returncode == 0, from_key.stderr + from_cert.stderr
        assert from_key.stdout == from_cert.stdout
    verify = _openssl("verify", "-x509_strict", "-crl_check", "-CRLfile", "crl.pem", "-CAfile",
                      "root-ca.pem", "-untrusted", "issuing-ca.pem",
                      *(f"certs/{code}-agency.pem" for code in OUTSIDE), cwd=out)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count(": OK") == len(OUTSIDE), verify.stdout
    # only the outside agencies' keys: a sender's key stays lgsp-sim's own
    assert sorted(p.name for p in (out / "keys").iterdir()) == sorted(
        f"{code}-agency.key" for code in OUTSIDE)


def test_pki_dir_reuses_the_outside_agencys_seal(pki_cache, tmp_path):
    """A second run from the first one's CA (``--pki``) keeps the certificate the outside
    service already holds, and writes the same key again."""
    first, second = tmp_path / "first", tmp_path / "second"
    config = _config(pki_cache, SignatureAlgorithm.ED25519, pki_out=first)
    topology = load_topology(list(config.profiles))
    issue_run_pki(config, topology, SENDERS)
    issue_run_pki(_config(pki_cache, SignatureAlgorithm.ED25519, pki_dir=first, pki_out=second),
                  topology, SENDERS[:1])
    for code in OUTSIDE:
        name = f"{code}-agency"
        assert (second / "certs" / f"{name}.pem").read_bytes() \
            == (first / "certs" / f"{name}.pem").read_bytes()
        assert (second / "keys" / f"{name}.key").read_bytes() \
            == (first / "keys" / f"{name}.key").read_bytes()


def test_no_outside_recipient_no_keys(pki_cache, tmp_path):
    out = tmp_path / "pki"
    config = SimulationConfig(run_id="no-keys", pki_cache=pki_cache,
                              signature_algorithm=SignatureAlgorithm.ED25519, pki_out=out)
    issue_run_pki(config, load_topology(list(config.profiles)), SENDERS)
    assert (out / "root-ca.pem").is_file()
    assert not (out / "keys").exists()
