"""Status seals (docs/contract.md §7a): the bytes they cover, a seal that verifies, and every
reason a status is forged — checked by our code and, for each key type, by the openssl command
line from the contract alone."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from lgsp.domain import StatusCode, StatusEvent, StatusLayer
from lgsp.errors import SignatureError
from lgsp.signing import (
    Pki,
    SignatureAlgorithm,
    SignatureRole,
    SignatureVerifier,
    StatusSealCheck,
    sign,
    status_digest,
)
from lgsp.signing.pki import CertificateFault
from lgsp.signing.signature import SignatureBlock
from lgsp.signing.status_seal import FORGED_REASONS, seal

SENDER = "000.00.00.H56"
RECIPIENT = "000.00.01.H56"
OTHER = "000.01.31.H56"
DOCUMENT_ID = f"{SENDER},2026/12/04,123/QĐ-UBND"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=250001)


def _status(**changes) -> StatusEvent:
    fields = {"layer": StatusLayer.BUSINESS, "from_code": RECIPIENT, "document_id": DOCUMENT_ID,
              "sender": SENDER, "recipient": RECIPIENT, "timestamp": NOW,
              "status_code": StatusCode.COMPLETED}
    return StatusEvent(**{**fields, **changes})


@pytest.fixture(scope="module", params=list(SignatureAlgorithm), ids=lambda a: a.value)
def pki(request, tmp_path_factory) -> Pki:
    return Pki(request.param, cache_dir=tmp_path_factory.mktemp("keys"))


def _seal_of(pki: Pki, code: str, role: SignatureRole = SignatureRole.AGENCY):
    return pki.credential(code, role, holder=f"holder {code}", organization=f"org {code}")


def _sealed(pki: Pki, status: StatusEvent, *, by: str = RECIPIENT,
            at: dt.datetime = NOW) -> StatusEvent:
    return dataclasses.replace(status, seal=seal(_seal_of(pki, by), status, at))


class TestDigest:
    def test_the_digest_of_a_fixed_status_is_the_contracts_bytes(self):
        """SHA-256 over document id, recipient, code, reason (empty) and timestamp (µs,
        decimal), 0x1F between: a fixed example, byte for byte."""
        status = _status(timestamp=dt.datetime(2026, 12, 4, 8, 15, tzinfo=dt.UTC))
        covered = ("000.00.00.H56,2026/12/04,123/QĐ-UBND\x1f000.00.01.H56\x1f06\x1f\x1f"
                   "1796372100000000").encode()
        assert status_digest(status) == hashlib.sha256(covered).digest()
        assert status_digest(status).hex() == (
            "a7fcb2fb41af287d00d93bd332c18e828b71de137e1a02ef3e881f07c08e1cde")

    def test_a_reason_and_microseconds_are_covered(self):
        """02 with its reason at a time with microseconds: both are in the digest."""
        status = _status(status_code=StatusCode.REJECTED, reason="bad_signature",
                         timestamp=dt.datetime(2026, 12, 4, 8, 15, 0, 250001, tzinfo=dt.UTC))
        covered = ("000.00.00.H56,2026/12/04,123/QĐ-UBND\x1f000.00.01.H56\x1f02\x1f"
                   "bad_signature\x1f1796372100250001").encode()
        assert status_digest(status) == hashlib.sha256(covered).digest()

    @pytest.mark.parametrize("change", [
        pytest.param({"document_id": f"{SENDER},2026/12/04,124/QĐ-UBND"}, id="document"),
        pytest.param({"recipient": OTHER}, id="recipient"),
        pytest.param({"status_code": StatusCode.IN_PROGRESS}, id="code"),
        pytest.param({"reason": "late"}, id="reason"),
        pytest.param({"timestamp": NOW + dt.timedelta(microseconds=1)}, id="timestamp"),
    ])
    def test_each_covered_field_changes_the_digest(self, change):
        assert status_digest(_status(**change)) != status_digest(_status())


class TestSealAndCheck:
    def test_a_status_sealed_by_its_recipient_passes(self, pki):
        """The recipient's agency seal over its own status: not forged."""
        status = _sealed(pki, _status())
        assert status.seal is not None
        assert status.seal.certificate == _seal_of(pki, RECIPIENT).issued.der
        assert StatusSealCheck(SignatureVerifier(pki.directory))(status) is None

    def test_a_seal_survives_the_wire(self, pki):
        """Encoded with status-event v2 and decoded again, the seal still verifies."""
        from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry

        events = EventCodec(AvroCodec(FileSchemaRegistry()))
        status = events.decode_status(events.encode_status(_sealed(pki, _status())))
        assert StatusSealCheck(SignatureVerifier(pki.directory))(status) is None

    def test_a_seal_does_not_pass_for_a_document_signature(self, pki):
        """The role bytes differ: the seal's value over the same 32 bytes is not an agency
        signature, and an agency signature is not a seal."""
        status = _status()
        credential = _seal_of(pki, RECIPIENT)
        sealed = seal(credential, status, NOW)
        verifier = SignatureVerifier(pki.directory)
        block = SignatureBlock(SignatureRole.AGENCY, sealed.certificate_serial, NOW,
                               sealed.value, sealed.certificate)
        with pytest.raises(SignatureError) as info:
            verifier.verify(block, status_digest(status), sender=RECIPIENT,
                            role=SignatureRole.AGENCY)
        assert info.value.reason == "bad_signature"
        signature = sign(credential, status_digest(status), NOW)
        passed_off = dataclasses.replace(sealed, value=signature.value)
        check = StatusSealCheck(verifier)
        assert check(dataclasses.replace(status, seal=passed_off)) == "bad_seal"


def _forged(pki: Pki, how: str) -> StatusEvent:
    status = _status()
    recipient = _seal_of(pki, RECIPIENT)
    match how:
        case "unsealed":
            return status
        case "unknown_certificate":
            sealed = seal(recipient, status, NOW)
            return dataclasses.replace(status, seal=dataclasses.replace(
                sealed, certificate=b"not a certificate"))
        case "unknown_issuer" | "expired" | "revoked":
            fault = {"unknown_issuer": CertificateFault.ROGUE_ISSUER,
                     "expired": CertificateFault.EXPIRED,
                     "revoked": CertificateFault.REVOKED}[how]
            credential = pki.faulty_seal(RECIPIENT, fault, holder="faulty")
            if fault is CertificateFault.REVOKED:
                pki.directory.revoke(credential.issued.serial)
            return dataclasses.replace(status, seal=seal(credential, status, NOW))
        case "signed_in_future":
            return _sealed(pki, status, at=NOW + dt.timedelta(minutes=6))
        case "not_yet_valid":
            later = pki.issue_extra(RECIPIENT, SignatureRole.AGENCY, holder="later",
                                    not_before=NOW + dt.timedelta(days=1),
                                    not_after=NOW + dt.timedelta(days=30))
            return dataclasses.replace(status, seal=seal(later, status, NOW))
        case "wrong_role":
            personal = _seal_of(pki, RECIPIENT, SignatureRole.PERSONAL)
            return dataclasses.replace(status, seal=seal(personal, status, NOW))
        case "sealed_by_other":
            return _sealed(pki, status, by=SENDER)
        case "bad_seal":
            sealed = _sealed(pki, status)
            assert sealed.seal is not None
            return dataclasses.replace(sealed, status_code=StatusCode.ASSIGNED)
    raise AssertionError(how)


class TestForged:
    @pytest.mark.parametrize("reason", [r for r in FORGED_REASONS if r != "unsupported_key"])
    def test_every_forged_reason(self, pki, reason):
        """Each way a status can be forged is told by its reason."""
        check = StatusSealCheck(SignatureVerifier(pki.directory))
        assert check(_forged(pki, reason), now=NOW) == reason

    def test_a_flipped_seal_byte_is_a_bad_seal(self, pki):
        sealed = _sealed(pki, _status())
        assert sealed.seal is not None
        value = bytes([sealed.seal.value[0] ^ 0x01]) + sealed.seal.value[1:]
        broken = dataclasses.replace(sealed, seal=dataclasses.replace(sealed.seal, value=value))
        assert StatusSealCheck(SignatureVerifier(pki.directory))(broken) == "bad_seal"

    def test_a_seal_without_its_certificate_is_found_by_serial(self, pki):
        """A seal that names only its serial is resolved in the directory (as a v1 signature
        is): still the recipient's."""
        sealed = _sealed(pki, _status())
        assert sealed.seal is not None
        bare = dataclasses.replace(sealed, seal=dataclasses.replace(sealed.seal,
                                                                    certificate=None))
        assert StatusSealCheck(SignatureVerifier(pki.directory))(bare) is None


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", "set -e\n" + script], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


def _us(at: dt.datetime) -> int:
    return (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _check_seal_script(algorithm: SignatureAlgorithm, signed_at: dt.datetime) -> str:
    """status.digest → the signed attributes → the value verified with the seal's public key
    (Ed25519 signs SHA-256(tbs): pkeyutl -rawin on that hash, as §5 says)."""
    verify = ("openssl dgst -sha256 -binary status.tbs > status.tbs.sha256\n"
              "openssl pkeyutl -verify -pubin -inkey seal.pub -rawin -in status.tbs.sha256 "
              "-sigfile seal.sig\n" if algorithm is SignatureAlgorithm.ED25519 else
              "openssl dgst -sha256 -verify seal.pub -signature seal.sig status.tbs\n")
    return (f"{{ cat status.digest; printf 'STATUS'; printf '%016x' {_us(signed_at)} "
            "| xxd -r -p; } > status.tbs\n"
            "openssl x509 -in seal.pem -pubkey -noout > seal.pub\n"
            "openssl base64 -d -A -in seal.sig.b64 -out seal.sig\n" + verify)


class TestOpenSsl:
    """A client that does not share our code checks a seal from the contract alone: the digest
    and signed attributes built with printf and openssl, the value verified with the
    certificate's public key, the certificate chained to the run's anchors."""

    @staticmethod
    def _sealed_02(pki: Pki, directory: Path) -> tuple[StatusEvent, dt.datetime]:
        from cryptography import x509

        status = _sealed(pki, _status(status_code=StatusCode.REJECTED, reason="tampered"))
        sealed = status.seal
        assert sealed is not None
        assert sealed.certificate is not None
        cert = x509.load_der_x509_certificate(sealed.certificate)
        (directory / "seal.pem").write_bytes(cert.public_bytes(Encoding.PEM))
        for name, anchor in (("root-ca", pki.directory.root),
                             ("issuing-ca", pki.directory.issuing_ca)):
            (directory / f"{name}.pem").write_bytes(anchor.certificate.public_bytes(Encoding.PEM))
        (directory / "seal.sig.b64").write_text(base64.b64encode(sealed.value).decode())
        return status, sealed.signed_at

    def test_openssl_verifies_a_seal(self, pki, tmp_path):
        status, signed_at = self._sealed_02(pki, tmp_path)
        script = (
            f"printf '%s\\037%s\\037%s\\037%s\\037%s' '{status.document_id}' "
            f"'{status.recipient}' '02' 'tampered' '{_us(status.timestamp)}' "
            "| openssl dgst -sha256 -binary > status.digest\n"
            + _check_seal_script(pki.algorithm, signed_at)
            + "openssl verify -x509_strict -CAfile root-ca.pem -untrusted issuing-ca.pem "
              "seal.pem\n")
        r = _run(script, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip().splitlines()[0] in ("Verified OK",
                                                    "Signature Verified Successfully"), r.stdout
        assert r.stdout.strip().splitlines()[-1] == "seal.pem: OK"
        assert (tmp_path / "status.digest").read_bytes() == status_digest(status)

    def test_openssl_refuses_a_seal_over_another_code(self, pki, tmp_path):
        """The check can fail: the same seal over 03 instead of 02 does not verify."""
        status, signed_at = self._sealed_02(pki, tmp_path)
        (tmp_path / "status.digest").write_bytes(
            status_digest(dataclasses.replace(status, status_code=StatusCode.REGISTERED)))
        r = _run(_check_seal_script(pki.algorithm, signed_at), tmp_path)
        assert r.returncode != 0
        assert "Verified OK" not in r.stdout
        assert "Successfully" not in r.stdout
