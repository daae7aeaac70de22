"""docs/contract.md's worked example: its values, its files and its openssl commands agree."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.signing import content_digest

DOCS = Path(__file__).parents[2] / "docs"
EXAMPLE = DOCS / "contract-example"
SIGNED_AT_US = 1796369400000000


def _quoted(name: str) -> str:
    """The fenced block after ``<!-- example: name -->`` in docs/contract.md."""
    text = (DOCS / "contract.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {name} -->\s*```\w*\n(.*?)```", text, re.DOTALL)
    assert found, f"docs/contract.md has no example block {name!r}"
    return "\n".join(line.strip() for line in found.group(1).splitlines()).strip()


def _value():
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    data = bytes.fromhex((EXAMPLE / "document-event.hex").read_text().strip())
    return data, events.decode_signed(data)


@pytest.fixture
def workdir(tmp_path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "example")
    return tmp_path / "example"


def _commands(workdir: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=workdir, capture_output=True, text=True,
                          timeout=60, check=False)


class TestWorkedExample:
    def test_quoted_digest_and_signed_attributes_are_the_bytes_of_the_example(self):
        """The digest and tbs the page quotes follow from the content bytes as §4/§5 say."""
        content = bytes.fromhex((EXAMPLE / "content.hex").read_text().strip())
        digest = hashlib.sha256((5).to_bytes(4, "big") + content).digest()
        assert digest == content_digest(content, 5)
        assert _quoted("digest") == digest.hex()
        tbs = digest + b"AGENCY" + SIGNED_AT_US.to_bytes(8, "big")
        assert _quoted("tbs") == tbs.hex()

    def test_kafka_value_is_framed_and_carries_the_example_files(self):
        """The value is 0 | id 6 | Avro; its content, digest, signatures and carried
        certificates are the files the commands use."""
        data, signed = _value()
        assert data[0] == 0
        assert int.from_bytes(data[1:5], "big") == 6
        assert signed.content_schema_id == 5
        assert signed.content.hex() == (EXAMPLE / "content.hex").read_text().strip()
        assert signed.content_digest.hex() == _quoted("digest")
        for block, name in ((signed.agency_signature, "agency-seal"),
                            (signed.personal_signature, "personal")):
            assert block is not None
            assert int(block.signed_at.timestamp() * 1_000_000) == SIGNED_AT_US
            assert block.value == base64.b64decode((EXAMPLE / f"{name}.sig.b64").read_text())
            pem = x509.load_pem_x509_certificate((EXAMPLE / f"{name}.pem").read_bytes())
            assert block.certificate == pem.public_bytes(Encoding.DER)
            assert block.certificate_serial == format(pem.serial_number, "x")

    def test_documented_openssl_commands_verify_the_agency_signature(self, workdir):
        """The page's commands, run verbatim: digest, Verified OK, strict chain OK."""
        r = _commands(workdir, "set -e\n" + _quoted("commands"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.splitlines() == [_quoted("digest"), "Verified OK",
                                         "agency-seal.pem: OK"], r.stdout + r.stderr

    def test_personal_signature_verifies_the_same_way(self, workdir):
        """With personal/PERSONAL for agency-seal/AGENCY, as the page says."""
        script = _quoted("commands").replace("agency-seal", "personal").replace(
            "AGENCY", "PERSONAL")
        r = _commands(workdir, "set -e\n" + script)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Verified OK" in r.stdout.splitlines()

    def test_one_changed_content_byte_fails_verification(self, workdir):
        """The check can fail: flip the last content byte and openssl refuses the signature."""
        content = (workdir / "content.hex").read_text().strip()
        flipped = content[:-2] + format(int(content[-2:], 16) ^ 1, "02x")
        (workdir / "content.hex").write_text(flipped + "\n")
        r = _commands(workdir, _quoted("commands"))
        assert "Verification failure" in r.stdout + r.stderr, r.stdout + r.stderr
        assert "Verified OK" not in r.stdout


class TestStatusSealExample:
    """§7a's worked example: a sealed 06, its digest and signed attributes as the page quotes
    them, and the page's openssl commands verifying the seal."""

    DIRECTORY = EXAMPLE / "status-seal"
    SEALED_AT_US = 1796372100250000

    def _status(self):
        events = EventCodec(AvroCodec(FileSchemaRegistry()))
        data = bytes.fromhex((self.DIRECTORY / "status-event.hex").read_text().strip())
        return data, events.decode_status(data)

    @pytest.fixture
    def seal_dir(self, tmp_path) -> Path:
        shutil.copytree(self.DIRECTORY, tmp_path / "status-seal")
        return tmp_path / "status-seal"

    def test_the_value_is_a_sealed_v2_status_carrying_the_example_files(self):
        from lgsp.signing.signature import micros

        data, status = self._status()
        assert data[:5] == b"\x00\x00\x00\x00\x07"
        assert (status.document_id, status.recipient, status.status_code.value,
                status.reason) == ("000.00.00.H56,2026/12/04,123/QĐ-UBND", "000.00.01.H56",
                                   "06", None)
        assert micros(status.timestamp) == 1796372100000000
        assert status.seal is not None
        assert micros(status.seal.signed_at) == self.SEALED_AT_US
        assert status.seal.value == base64.b64decode(
            (self.DIRECTORY / "status-seal.sig.b64").read_text())
        pem = x509.load_pem_x509_certificate((self.DIRECTORY / "recipient-seal.pem").read_bytes())
        assert status.seal.certificate == pem.public_bytes(Encoding.DER)

    def test_quoted_digest_and_signed_attributes_follow_from_the_status(self):
        from lgsp.signing import status_digest

        _, status = self._status()
        covered = ("000.00.00.H56,2026/12/04,123/QĐ-UBND\x1f000.00.01.H56\x1f06\x1f\x1f"
                   "1796372100000000").encode()
        assert status_digest(status) == hashlib.sha256(covered).digest()
        assert _quoted("status-digest") == status_digest(status).hex()
        tbs = status_digest(status) + b"STATUS" + self.SEALED_AT_US.to_bytes(8, "big")
        assert _quoted("status-tbs") == tbs.hex()

    def test_the_seal_is_accepted_by_the_trackers_check(self, tmp_path):
        """Against the example's anchors, at the sealing time: not forged."""
        import datetime as dt

        from lgsp.signing import Pki, SignatureVerifier, StatusSealCheck
        from lgsp.signing.pki_files import load_trust

        trusted = Pki(restore=load_trust(self.DIRECTORY), cache_dir=tmp_path / "keys")
        check = StatusSealCheck(SignatureVerifier(trusted.directory))
        _, status = self._status()
        at = dt.datetime(2026, 12, 4, 8, 15, 1, tzinfo=dt.UTC)
        assert check(status, now=at) is None

    def test_documented_openssl_commands_verify_the_seal(self, seal_dir):
        r = _commands(seal_dir, "set -e\n" + _quoted("status-commands"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert [line.strip() for line in r.stdout.splitlines()] == [
            _quoted("status-digest"), "Verified OK", "organizationIdentifier=000.00.01.H56",
            "OU=agency-seal", "recipient-seal.pem: OK"], r.stdout + r.stderr

    def test_the_seal_over_another_code_fails(self, seal_dir):
        script = _quoted("status-commands").replace("'06'", "'05'")
        r = _commands(seal_dir, script)
        assert "Verification failure" in r.stdout + r.stderr, r.stdout + r.stderr
        assert "Verified OK" not in r.stdout
