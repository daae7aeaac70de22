"""Real signatures with real certificates: what a receiving agency accepts and refuses."""

import datetime as dt

import pytest

from lgsp.errors import SignatureError
from lgsp.signing import (
    CertificateDirectory,
    Pki,
    SignatureAlgorithm,
    SignatureBlock,
    SignatureRole,
    SignatureVerifier,
    content_digest,
    sign,
)

SENDER = "000.00.00.H56"
OTHER = "000.01.31.H56"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module", params=list(SignatureAlgorithm), ids=lambda a: a.value)
def pki(request, tmp_path_factory):
    return Pki(request.param, cache_dir=tmp_path_factory.mktemp("keys"))


def _cred(pki, code, role):
    return pki.credential(code, role, holder=f"holder {code}", organization=f"org {code}")


class TestSignAndVerify:
    def test_both_signatures_of_the_sender_verify(self, pki):
        """Personal and agency signatures by the sender's certificates verify."""
        digest = content_digest(b"document content", 1)
        verifier = SignatureVerifier(pki.directory)
        for role in SignatureRole:
            issued = verifier.verify(sign(_cred(pki, SENDER, role), digest, NOW), digest,
                                     sender=SENDER, role=role)
            assert issued.agency_code == SENDER
            assert issued.role is role

    def test_certificate_chains_to_the_root(self, pki):
        """Agency cert is issued by the issuing CA, which is issued by the root."""
        cred = _cred(pki, SENDER, SignatureRole.AGENCY)
        cred.issued.certificate.verify_directly_issued_by(pki.directory.issuing_ca.certificate)
        pki.directory.issuing_ca.certificate.verify_directly_issued_by(
            pki.directory.root.certificate)


def _reason(verifier, block, digest, sender=SENDER, role=None):
    with pytest.raises(SignatureError) as info:
        verifier.verify(block, digest, sender=sender, role=role or block.role)
    return info.value.reason


class TestRejections:
    def test_commune_cannot_sign_as_the_province(self, pki):
        """A signature by a commune's certificate on a province document: signer_not_sender."""
        digest = content_digest(b"x", 1)
        block = sign(_cred(pki, OTHER, SignatureRole.AGENCY), digest, NOW)
        assert _reason(SignatureVerifier(pki.directory), block, digest) == "signer_not_sender"

    def test_altered_content_is_tampered(self, pki):
        """Content that no longer matches its digest is rejected as tampered."""
        verifier = SignatureVerifier(pki.directory)
        with pytest.raises(SignatureError) as info:
            verifier.check_digest(b"altered", 1, content_digest(b"original", 1))
        assert info.value.reason == "tampered"

    def test_signature_over_another_digest_is_bad(self, pki):
        """A valid signature of other content does not verify: bad_signature."""
        block = sign(_cred(pki, SENDER, SignatureRole.AGENCY), content_digest(b"a", 1), NOW)
        assert _reason(SignatureVerifier(pki.directory), block,
                       content_digest(b"b", 1)) == "bad_signature"

    def test_flipped_signature_byte_is_bad(self, pki):
        digest = content_digest(b"a", 1)
        block = sign(_cred(pki, SENDER, SignatureRole.AGENCY), digest, NOW)
        broken = SignatureBlock(block.role, block.certificate_serial, block.signed_at,
                                bytes([block.value[0] ^ 1]) + block.value[1:])
        assert _reason(SignatureVerifier(pki.directory), broken, digest) == "bad_signature"

    def test_revoked_certificate_is_refused(self, pki, tmp_path):
        digest = content_digest(b"a", 1)
        cred = _cred(pki, "000.00.02.H56", SignatureRole.AGENCY)
        block = sign(cred, digest, NOW)
        pki.directory.revoke(cred.issued.serial)
        assert _reason(SignatureVerifier(pki.directory), block, digest,
                       sender="000.00.02.H56") == "revoked"

    def test_expired_certificate_is_refused(self, pki):
        digest = content_digest(b"a", 1)
        cred = pki.issue_extra(SENDER, SignatureRole.AGENCY, holder="old",
                               not_before=NOW - dt.timedelta(days=800),
                               not_after=NOW - dt.timedelta(days=1))
        assert _reason(SignatureVerifier(pki.directory), sign(cred, digest, NOW),
                       digest) == "expired"

    def test_certificate_of_a_foreign_ca_is_unknown_issuer(self, pki, tmp_path):
        """A certificate from another CA, even if placed in the directory, does not chain."""
        foreign = Pki(pki.algorithm, cache_dir=tmp_path)
        cred = _cred(foreign, SENDER, SignatureRole.AGENCY)
        pki.directory.add(cred.issued)
        digest = content_digest(b"a", 1)
        assert _reason(SignatureVerifier(pki.directory), sign(cred, digest, NOW),
                       digest) == "unknown_issuer"

    def test_unknown_serial_is_unknown_certificate(self, pki):
        digest = content_digest(b"a", 1)
        block = sign(_cred(pki, SENDER, SignatureRole.AGENCY), digest, NOW)
        forged = SignatureBlock(block.role, "abc123", block.signed_at, block.value)
        assert _reason(SignatureVerifier(pki.directory), forged, digest) == "unknown_certificate"

    def test_agency_seal_in_the_personal_slot_is_wrong_role(self, pki):
        """A seal copied into the personal-signature slot does not count as a personal one."""
        digest = content_digest(b"a", 1)
        seal = sign(_cred(pki, SENDER, SignatureRole.AGENCY), digest, NOW)
        assert _reason(SignatureVerifier(pki.directory), seal, digest,
                       role=SignatureRole.PERSONAL) == "wrong_role"

    def test_backdated_signing_time_breaks_the_signature(self, pki):
        """The signing time is signed: moving it into an expired certificate's validity fails."""
        digest = content_digest(b"a", 1)
        cred = pki.issue_extra(SENDER, SignatureRole.AGENCY, holder="old",
                               not_before=NOW - dt.timedelta(days=800),
                               not_after=NOW - dt.timedelta(days=1))
        block = sign(cred, digest, NOW)
        backdated = SignatureBlock(block.role, block.certificate_serial,
                                   NOW - dt.timedelta(days=10), block.value)
        assert _reason(SignatureVerifier(pki.directory), backdated, digest) == "bad_signature"

    def test_signing_time_in_the_future_is_refused(self, pki):
        digest = content_digest(b"a", 1)
        block = sign(_cred(pki, SENDER, SignatureRole.AGENCY), digest,
                     NOW + dt.timedelta(hours=2))
        assert _reason(SignatureVerifier(pki.directory), block, digest) == "signed_in_future"

    def test_digest_covers_the_content_schema_id(self):
        """The same bytes under another schema id are another document."""
        assert content_digest(b"a", 1) != content_digest(b"a", 5)

    def test_personal_certificate_used_as_agency_seal_is_wrong_role(self, pki):
        digest = content_digest(b"a", 1)
        block = sign(_cred(pki, SENDER, SignatureRole.PERSONAL), digest, NOW)
        as_seal = SignatureBlock(SignatureRole.AGENCY, block.certificate_serial, block.signed_at,
                                 block.value)
        assert _reason(SignatureVerifier(pki.directory), as_seal, digest) == "wrong_role"


class TestCarriedCertificate:
    """A signature carries its signer's certificate (edXML KeyInfo/X509Data)."""

    def test_verifier_with_only_the_trust_anchors_accepts_both_signatures(self, pki):
        """A directory that knows no issued certificate verifies from the carried ones."""
        anchors_only = CertificateDirectory(pki.directory.root, pki.directory.issuing_ca)
        digest = content_digest(b"document content", 5)
        for role in SignatureRole:
            block = sign(_cred(pki, SENDER, role), digest, NOW)
            assert block.certificate == _cred(pki, SENDER, role).issued.der
            issued = SignatureVerifier(anchors_only).verify(block, digest, sender=SENDER,
                                                            role=role)
            assert (issued.agency_code, issued.role) == (SENDER, role)

    def test_carried_certificate_of_a_foreign_ca_is_unknown_issuer(self, pki, tmp_path):
        """A certificate from another CA that only the signature carries does not chain."""
        foreign = _cred(Pki(pki.algorithm, cache_dir=tmp_path), SENDER, SignatureRole.AGENCY)
        digest = content_digest(b"a", 1)
        assert _reason(SignatureVerifier(pki.directory), sign(foreign, digest, NOW),
                       digest) == "unknown_issuer"

    def test_forged_certificate_reusing_a_trusted_serial_is_unknown_issuer(self, pki, tmp_path):
        """Carried bytes decide, not the serial: a foreign certificate whose serial a trusted
        one has (checked after the trusted one passed) does not chain."""
        verifier = SignatureVerifier(pki.directory)
        digest = content_digest(b"a", 1)
        trusted = _cred(pki, SENDER, SignatureRole.AGENCY)
        verifier.verify(sign(trusted, digest, NOW), digest, sender=SENDER,
                        role=SignatureRole.AGENCY)
        foreign = _cred(Pki(pki.algorithm, cache_dir=tmp_path), SENDER, SignatureRole.AGENCY)
        block = sign(foreign, digest, NOW)
        forged = SignatureBlock(block.role, trusted.issued.serial, block.signed_at, block.value,
                                block.certificate)
        assert _reason(verifier, forged, digest) == "unknown_issuer"

    def test_unreadable_carried_certificate_is_unknown_certificate(self, pki):
        digest = content_digest(b"a", 1)
        block = sign(_cred(pki, SENDER, SignatureRole.AGENCY), digest, NOW)
        garbled = SignatureBlock(block.role, block.certificate_serial, block.signed_at,
                                 block.value, b"not DER")
        assert _reason(SignatureVerifier(pki.directory), garbled, digest) == "unknown_certificate"


def test_keys_are_cached_between_pkis(tmp_path):
    """A second PKI with the same cache reuses the key pairs (fresh certificates)."""
    first = Pki(SignatureAlgorithm.P256, cache_dir=tmp_path)
    second = Pki(SignatureAlgorithm.P256, cache_dir=tmp_path)
    assert first.prepare([SENDER]) == 2
    assert second.prepare([SENDER]) == 0
    a = _cred(first, SENDER, SignatureRole.AGENCY)
    b = _cred(second, SENDER, SignatureRole.AGENCY)
    assert a.issued.serial != b.issued.serial
    assert a.key.public_key().public_numbers() == b.key.public_key().public_numbers()
