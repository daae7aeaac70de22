"""The reference recipient seals its statuses (docs/contract.md §7a) with the seal that
``--pki-out`` writes for an external recipient (``keys/<CODE>-agency.key``,
``certs/<CODE>-agency.pem``). Every seal is checked with the ``openssl`` command line over the
bytes §7a names, built here from the status's own fields; ``--no-seal`` and
``--seal-with-parent`` break exactly that."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from examples.reference_recipient import seal as service_seal
from examples.reference_recipient.parent_seal import other_agency, parent_of
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.signing import Pki, SignatureAlgorithm, SignatureRole
from lgsp.signing.pki_files import write_pki
from tests.examples.test_reference_recipient import (
    ACCEPTED,
    RECIPIENT,
    SENDER,
    Inbound,
    World,
    create_topics,
    deliver,
    document_record,
    service,
    tampered,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
AVRO = AvroCodec(FileSchemaRegistry())
PARENT = "000.00.00.H56"
"""RECIPIENT's parent agency (also the documents' sender here)."""


# --- what a verifier does, from §7a and the openssl command line --------------------------


def micros(value: int | dt.datetime) -> int:
    return value if isinstance(value, int) else (value - EPOCH) // dt.timedelta(microseconds=1)


def tbs_of(status: dict[str, Any], seal: dict[str, Any]) -> bytes:
    """§7a, byte by byte: SHA-256 of the five fields joined by 0x1F, "STATUS", signed_at."""
    fields = [status["document_id"], status["recipient"], status["status_code"] or "",
              status["reason"] or "", str(micros(status["timestamp"]))]
    digest = hashlib.sha256(b"\x1f".join(f.encode("utf-8") for f in fields)).digest()
    return digest + b"STATUS" + micros(seal["signed_at"]).to_bytes(8, "big")


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)


def openssl_verifies(seal: dict[str, Any], tbs: bytes, workdir: Path) -> tuple[bool, str]:
    """The seal's value over ``tbs`` with the public key of the certificate it carries, as §5
    says for the key type: ``openssl dgst -sha256 -verify`` (RSA, ECDSA) or ``openssl pkeyutl
    -verify -rawin`` over SHA-256(tbs) (Ed25519)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "seal.der").write_bytes(seal["certificate"])
    pub = _openssl("x509", "-inform", "DER", "-in", "seal.der", "-pubkey", "-noout",
                   cwd=workdir)
    assert pub.returncode == 0, pub.stderr
    (workdir / "seal.pub").write_text(pub.stdout)
    (workdir / "seal.sig").write_bytes(seal["value"])
    (workdir / "seal.tbs").write_bytes(tbs)
    certificate = x509.load_der_x509_certificate(seal["certificate"])
    if isinstance(certificate.public_key(), ed25519.Ed25519PublicKey):
        (workdir / "seal.tbs.sha256").write_bytes(hashlib.sha256(tbs).digest())
        r = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", "seal.pub", "-rawin", "-in",
                     "seal.tbs.sha256", "-sigfile", "seal.sig", cwd=workdir)
        return "Signature Verified Successfully" in r.stdout, r.stdout + r.stderr
    r = _openssl("dgst", "-sha256", "-verify", "seal.pub", "-signature", "seal.sig", "seal.tbs",
                 cwd=workdir)
    return r.stdout.strip() == "Verified OK", r.stdout + r.stderr


def written(answer_value: bytes) -> tuple[int, dict[str, Any]]:
    """(schema id, record) of a status as the service wrote it, read with lgsp's codec."""
    schema, record = AVRO.decode(answer_value, expect_subject="lgsp.status-event")
    return schema.id, record


def organization_identifier(der: bytes) -> str:
    subject = x509.load_der_x509_certificate(der).subject
    return str(subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value)


# --- without a broker ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(SignatureAlgorithm), ids=lambda a: a.value)
def test_a_seal_verifies_with_openssl_over_the_bytes_of_section_7a(pki_cache, tmp_path,
                                                                   algorithm):
    pki = Pki(algorithm, cache_dir=pki_cache)
    issued = pki.credential(RECIPIENT, SignatureRole.AGENCY, holder="h", organization="o")
    write_pki(pki, tmp_path / "pki", seal_keys=[RECIPIENT])
    own = service_seal.OwnSeals(tmp_path / "pki", (RECIPIENT,))
    assert own.try_load()
    status = {"document_id": f"{SENDER},2026/12/04,7/QĐ-UBND", "recipient": RECIPIENT,
              "sender": SENDER, "status_code": "02", "reason": "bad_signature",
              "timestamp": 1796369400123456}
    seal = own.of(RECIPIENT).seal(status, 1796369400123999)
    assert seal["certificate"] == issued.issued.der
    assert seal["certificate_serial"] == issued.issued.serial
    assert seal["signed_at"] == 1796369400123999
    ok, output = openssl_verifies(seal, tbs_of(status, seal), tmp_path / "check")
    assert ok, output
    # the check can fail: the same seal over another reason (an empty one) does not verify
    ok, output = openssl_verifies(seal, tbs_of({**status, "reason": None}, seal),
                                  tmp_path / "forged")
    assert not ok, output


def test_a_seal_is_read_again_when_a_new_run_writes_a_new_one(pki_cache, tmp_path):
    directory = tmp_path / "pki"
    own = service_seal.OwnSeals(directory, (RECIPIENT,))
    assert not own.try_load()  # nothing written yet
    first = Pki(SignatureAlgorithm.ED25519, cache_dir=pki_cache)
    first.credential(RECIPIENT, SignatureRole.AGENCY, holder="h", organization="o")
    write_pki(first, directory, seal_keys=[RECIPIENT])
    assert own.try_load()
    before = own.of(RECIPIENT).certificate
    second = Pki(SignatureAlgorithm.ED25519, cache_dir=pki_cache)  # a new CA, the same key
    second.credential(RECIPIENT, SignatureRole.AGENCY, holder="h", organization="o")
    write_pki(second, directory, seal_keys=[RECIPIENT])
    after = own.of(RECIPIENT).certificate
    assert after.serial_number != before.serial_number
    after.verify_directly_issued_by(second.directory.issuing_ca.certificate)
    (directory / "keys" / f"{RECIPIENT}-agency.key").write_text("half a key")
    assert own.of(RECIPIENT).certificate == after  # kept while the files are not a pair


def test_parent_codes_and_whose_seal_seal_with_parent_puts_on() -> None:
    assert parent_of("000.00.01.H56") == "000.00.00.H56"
    assert parent_of("000.01.02.H56") == "000.00.02.H56"
    assert parent_of("003.01.02.G22") == "000.01.02.G22"
    assert parent_of("000.00.00.H56") is None
    assert parent_of("not a code") is None
    assert other_agency("000.00.01.H56", "000.00.00.G22") == "000.00.00.H56"
    assert other_agency("000.00.00.H56", "000.00.00.G22") == "000.00.00.G22"


def test_sealing_needs_the_pki_directory(capsys) -> None:
    from examples.reference_recipient.service import SEAL_NONE, options_from, parser

    base = ["--bootstrap", "b:1", "--run-id", "r", "--agency", RECIPIENT,
            "--accept-bad-signatures"]
    with pytest.raises(SystemExit, match="--no-seal"):
        options_from(parser().parse_args(base))
    assert options_from(parser().parse_args([*base, "--no-seal"])).seal == SEAL_NONE
    with pytest.raises(SystemExit):
        parser().parse_args([*base, "--no-seal", "--seal-with-parent"])
    assert "not allowed with" in capsys.readouterr().err


# --- the service on the broker ------------------------------------------------------------


@pytest.fixture
def run(kafka_bootstrap: str) -> str:
    name = f"rs{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, name)
    return name


def make_world(algorithm: SignatureAlgorithm, pki_cache: Path, directory: Path) -> World:
    """A run's PKI of ``algorithm`` with the sender's credentials, not written yet."""
    pki = Pki(algorithm, cache_dir=pki_cache)
    world = World(pki, pki, directory, EventCodec(AVRO), iter(range(1, 10_000)))
    world.credential(SENDER, SignatureRole.AGENCY)
    world.credential(SENDER, SignatureRole.PERSONAL)
    return world


def answers_of(bootstrap: str, run: str, world: World, tmp_path: Path,
               *switches: str) -> tuple[Inbound, list[str]]:
    """The service's statuses about one valid and one tampered document."""
    valid, bad = world.document(), world.document()
    bad_signed = world.signed(bad)
    inbound = Inbound(bootstrap, run, world.events)
    try:
        with service(bootstrap, run, world, tmp_path, *switches):
            deliver(bootstrap, run, [
                document_record(world, valid, world.signed(valid)),
                document_record(world, bad, bad_signed, value=tampered(world, bad_signed))])
            inbound.wait(lambda: inbound.codes(valid.document_id) == ACCEPTED
                         and inbound.codes(bad.document_id) == ["01", "02"], "the answers")
    finally:
        inbound.close()
    return inbound, [valid.document_id, bad.document_id]


@pytest.mark.e2e
@pytest.mark.parametrize("algorithm", [SignatureAlgorithm.RSA2048, SignatureAlgorithm.ED25519],
                         ids=lambda a: a.value)
def test_every_status_is_sealed_with_the_recipients_seal(kafka_bootstrap, run, pki_cache,
                                                         tmp_path, algorithm):
    world = make_world(algorithm, pki_cache, tmp_path / "pki")
    world.write()
    inbound, _ = answers_of(kafka_bootstrap, run, world, tmp_path)
    own = world.outside_seal()
    assert len(inbound.answers) == len(ACCEPTED) + 2
    for n, answer in enumerate(inbound.answers):
        schema_id, status = written(answer.value)
        assert schema_id == 7  # lgsp.status-event v2
        seal = status["seal"]
        assert seal is not None, status
        assert seal["certificate"] == own.issued.der
        assert seal["certificate_serial"] == own.issued.serial
        assert abs(micros(seal["signed_at"]) - micros(status["timestamp"])) < 5_000_000
        ok, output = openssl_verifies(seal, tbs_of(status, seal), tmp_path / f"check-{n}")
        assert ok, (status, output)
    assert any(written(a.value)[1]["reason"] == "tampered" for a in inbound.answers)


@pytest.mark.e2e
def test_no_seal_sends_v1_statuses(kafka_bootstrap, run, pki_cache, tmp_path):
    world = make_world(SignatureAlgorithm.ED25519, pki_cache, tmp_path / "pki")
    write_pki(world.pki, world.pki_dir)  # no seal key: --no-seal does not wait for one
    inbound, _ = answers_of(kafka_bootstrap, run, world, tmp_path, "--no-seal")
    for answer in inbound.answers:
        schema_id, status = written(answer.value)
        assert schema_id == 3  # lgsp.status-event v1: no seal field at all
        assert "seal" not in status


@pytest.mark.e2e
def test_seal_with_parent_seals_with_the_parent_agencys_valid_seal(kafka_bootstrap, run,
                                                                   pki_cache, tmp_path):
    """The seal verifies and its certificate chains strictly to the run's anchors, but it is
    the parent agency's (organizationIdentifier 000.00.00.H56), not the recipient's."""
    world = make_world(SignatureAlgorithm.ED25519, pki_cache, tmp_path / "pki")
    world.write()
    inbound, _ = answers_of(kafka_bootstrap, run, world, tmp_path, "--seal-with-parent")
    certificates = set()
    for n, answer in enumerate(inbound.answers):
        schema_id, status = written(answer.value)
        seal = status["seal"]
        assert schema_id == 7
        assert seal is not None
        assert organization_identifier(seal["certificate"]) == PARENT
        ok, output = openssl_verifies(seal, tbs_of(status, seal), tmp_path / f"check-{n}")
        assert ok, (status, output)
        certificates.add(seal["certificate"])
    (der,) = certificates  # issued once
    (tmp_path / "parent.der").write_bytes(der)
    pem = _openssl("x509", "-inform", "DER", "-in", str(tmp_path / "parent.der"), "-out",
                   str(tmp_path / "parent.pem"), cwd=world.pki_dir)
    assert pem.returncode == 0, pem.stderr
    chain = _openssl("verify", "-x509_strict", "-crl_check", "-CRLfile", "crl.pem", "-CAfile",
                     "root-ca.pem", "-untrusted", "issuing-ca.pem", str(tmp_path / "parent.pem"),
                     cwd=world.pki_dir)
    assert chain.returncode == 0, chain.stdout + chain.stderr
    unit = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
        NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in unit] == ["agency-seal"]


@pytest.mark.e2e
def test_nothing_is_answered_before_the_seal_key_is_there(kafka_bootstrap, run, pki_cache,
                                                          tmp_path):
    """The anchors alone are not enough: the service waits for its seal key, then answers
    every status sealed."""
    world = make_world(SignatureAlgorithm.ED25519, pki_cache, tmp_path / "pki")
    write_pki(world.pki, world.pki_dir)  # anchors and certificates, no keys/
    document = world.document()
    inbound = Inbound(kafka_bootstrap, run, world.events)
    try:
        with service(kafka_bootstrap, run, world, tmp_path):
            deliver(kafka_bootstrap, run, [document_record(world, document,
                                                           world.signed(document))])
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                message = inbound.consumer.poll(0.2)
                assert message is None or message.error() is not None, "answered unsealed"
            world.write()  # the seal key arrives
            inbound.wait(lambda: inbound.codes(document.document_id) == ACCEPTED, "answers")
    finally:
        inbound.close()
    assert all(written(a.value)[1]["seal"] is not None for a in inbound.answers)
    log = (tmp_path / f"service-{run}.log").read_text()
    assert f"keys/{RECIPIENT}-agency.key" in log  # it said what it waits for
