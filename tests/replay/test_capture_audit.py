"""A run's capture carries its trust anchors: every signature can be audited from the capture
alone, with the openssl command line (no run, no key cache, no --pki-out)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lgsp.bus import headers
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.codec.capture import CaptureReader
from tests.cli.test_cli import run

DOCUMENTS = 30


def _openssl(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], cwd=cwd, input=stdin, capture_output=True,
                          timeout=60, check=False)


def test_every_signature_of_a_recorded_run_verifies_with_openssl(kafka_bootstrap, pki_cache,
                                                                 tmp_path):
    """Record a 30-document run; from the capture alone: the anchors are in its header, each
    submitted document's signatures carry certificates that pass strict openssl verify, and
    every signature verifies with openssl over the signed attributes of docs/contract.md."""
    capture = tmp_path / "run.cap"
    r = run(["simulate", "--bootstrap", kafka_bootstrap, "-n", str(DOCUMENTS), "-r", "40",
             "--pki-cache", str(pki_cache), "--record", str(capture), "--json"])
    assert r.returncode == 0, r.stdout + r.stderr
    reader = CaptureReader(capture)
    anchors = reader.info.trust_anchors
    assert len(anchors["roots"]) == len(anchors["issuing_cas"]) == 1
    (tmp_path / "root.pem").write_text(anchors["roots"][0])
    (tmp_path / "issuing.pem").write_text(anchors["issuing_cas"][0])

    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    submitted = {}  # DocumentId -> value, as the sender produced it (no trace entry yet)
    for record in reader:
        if record.header(headers.KIND) == headers.DOCUMENT \
                and record.header(headers.TRACE) is None:
            submitted[record.header(headers.ID)] = record.value
    assert len(submitted) == DOCUMENTS

    checked_certs: dict[bytes, Path] = {}
    verified = 0
    for value in submitted.values():
        signed = events.decode_signed(value)
        for block in (signed.personal_signature, signed.agency_signature):
            if block is None:
                continue
            assert block.certificate is not None, "v2 signatures carry their certificate"
            pub = checked_certs.get(block.certificate)
            if pub is None:
                name = tmp_path / f"c{len(checked_certs)}"
                pem = _openssl("x509", "-inform", "DER", "-out", f"{name}.pem", cwd=tmp_path,
                               stdin=block.certificate)
                assert pem.returncode == 0, pem.stderr
                chain = _openssl("verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted",
                                 "issuing.pem", f"{name}.pem", cwd=tmp_path)
                assert chain.returncode == 0, chain.stdout + chain.stderr
                key = _openssl("x509", "-in", f"{name}.pem", "-pubkey", "-noout", "-out",
                               f"{name}.pub", cwd=tmp_path)
                assert key.returncode == 0, key.stderr
                pub = checked_certs[block.certificate] = name.with_suffix(".pub")
            micros = int(block.signed_at.timestamp() * 1_000_000)
            (tmp_path / "tbs").write_bytes(signed.content_digest + block.role.value.encode()
                                           + micros.to_bytes(8, "big"))
            (tmp_path / "sig").write_bytes(block.value)
            ok = _openssl("dgst", "-sha256", "-verify", pub.name, "-signature", "sig", "tbs",
                          cwd=tmp_path)
            assert ok.stdout.strip() == b"Verified OK", ok.stdout + ok.stderr
            verified += 1
    signing = json.loads(r.stdout)["signing"]
    assert verified == signing["personal_signed"] + signing["agency_signed"], signing
    assert signing["agency_signed"] == DOCUMENTS
    assert len(checked_certs) >= 2
