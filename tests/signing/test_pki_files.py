"""The PKI a run publishes (``--pki-out``) as OpenSSL sees it, and loading it back (``--pki``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from lgsp.errors import ConfigError
from lgsp.signing import Pki, SignatureAlgorithm, SignatureRole
from lgsp.signing.pki import CertificateFault
from lgsp.signing.pki_files import load_authority, write_pki

CODES = ["000.00.00.H56", "000.00.01.H56", "000.00.00.G05"]


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)


def _issue(pki: Pki) -> None:
    for code in CODES:
        for role in SignatureRole:
            pki.credential(code, role, holder=f"holder {code}", organization=f"org {code}")
    pki.faulty_seal(CODES[0], CertificateFault.REVOKED, holder="org")
    pki.faulty_seal(CODES[0], CertificateFault.EXPIRED, holder="org")


@pytest.fixture(scope="module", params=list(SignatureAlgorithm), ids=lambda a: a.value)
def published(request, tmp_path_factory, pki_cache) -> tuple[Pki, Path]:
    pki = Pki(request.param, cache_dir=pki_cache)
    _issue(pki)
    directory = tmp_path_factory.mktemp("pki-out")
    files = write_pki(pki, directory)
    assert (files.certificates, files.faulty, files.revoked) == (6, 2, 1)
    return pki, directory


class TestPublishedPki:
    def test_every_certificate_passes_strict_openssl_verify(self, published):
        """Root, issuing CA and all six agency/personal certificates pass -x509_strict."""
        _, directory = published
        certs = sorted(str(p.relative_to(directory)) for p in (directory / "certs").glob("*"))
        assert len(certs) == 6
        r = _openssl("verify", "-x509_strict", "-CAfile", "root-ca.pem", "-untrusted",
                     "issuing-ca.pem", "issuing-ca.pem", *certs, cwd=directory)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count(": OK") == 7, r.stdout

    def test_revoked_seal_fails_against_the_published_crl(self, published):
        """The CRL is signed by the issuing CA and lists the revoked seal: openssl error 23."""
        _, directory = published
        revoked = f"faulty/{CODES[0]}-revoked.pem"
        plain = _openssl("verify", "-x509_strict", "-CAfile", "chain.pem", revoked,
                         cwd=directory)
        assert plain.returncode == 0, plain.stdout + plain.stderr
        checked = _openssl("verify", "-x509_strict", "-crl_check", "-CRLfile", "crl.pem",
                           "-CAfile", "chain.pem", revoked, cwd=directory)
        assert checked.returncode != 0
        assert "certificate revoked" in checked.stdout + checked.stderr

    def test_loaded_authority_issues_and_reuses_certificates(self, published, pki_cache):
        """--pki: same root, the published certificates reused for the same keys, the CRL's
        serials revoked, and a new agency's certificate issued by the same CA."""
        pki, directory = published
        authority = load_authority(directory)
        again = Pki(cache_dir=pki_cache, authority=authority)
        assert again.algorithm is pki.algorithm
        assert again.directory.root.serial == pki.directory.root.serial
        old = pki.credential(CODES[1], SignatureRole.AGENCY, holder="h", organization="o")
        new = again.credential(CODES[1], SignatureRole.AGENCY, holder="h", organization="o")
        assert new.issued.serial == old.issued.serial
        assert again.export().revoked_serials() == pki.export().revoked_serials()
        fresh = again.credential("000.00.07.H56", SignatureRole.PERSONAL, holder="h",
                                 organization="o")
        fresh.issued.certificate.verify_directly_issued_by(pki.directory.issuing_ca.certificate)


    def test_what_workers_receive_keeps_known_certificates_and_revocations(self, published,
                                                                            pki_cache):
        """The export a coordinator hands its worker processes (JSON) carries the authority's
        certificates and CRL serials; a restored PKI resolves and revokes them."""
        from lgsp.signing.pki import PkiExport

        pki, directory = published
        export = Pki(cache_dir=pki_cache, authority=load_authority(directory)).export()
        assert len(export.known) == 6
        again = PkiExport.from_json(export.to_json())
        assert again == export
        restored = Pki(restore=again, cache_dir=pki_cache)
        for _, _, der in export.known:
            serial = format(x509.load_der_x509_certificate(der).serial_number, "x")
            assert restored.directory.get(serial) is not None
        assert again.revoked_serials() == pki.export().revoked_serials()

    def test_only_an_agency_seal_it_issued_has_its_key_written(self, published, pki_cache,
                                                               tmp_path):
        """keys/ is for agency seals of this CA: a personal credential, or a seal of another
        CA, is a programming error, refused before anything is written."""
        pki, _ = published
        personal = pki.credential(CODES[1], SignatureRole.PERSONAL, holder="h",
                                  organization="o")
        stranger = Pki(pki.algorithm, cache_dir=tmp_path / "keys").credential(
            CODES[1], SignatureRole.AGENCY, holder="h", organization="o")
        for credential in (personal, stranger):
            with pytest.raises(ValueError, match="not an agency seal this PKI issued"):
                write_pki(pki, tmp_path / "out", seals=[credential])
            assert not (tmp_path / "out").exists()
        seal = pki.credential(CODES[1], SignatureRole.AGENCY, holder="h", organization="o")
        files = write_pki(pki, tmp_path / "out", seals=[seal])
        assert files.seal_keys == 1
        assert [p.name for p in (tmp_path / "out" / "keys").iterdir()] == [
            f"{CODES[1]}-agency.key"]
        assert load_authority(tmp_path / "out").known  # keys/ does not disturb --pki


class TestBadPkiDirectory:
    @pytest.mark.parametrize(("damage", "message"), [
        pytest.param("issuing-ca.key", "issuing-ca.key is missing", id="no-ca-key"),
        pytest.param("root-ca.pem", "root-ca.pem is missing", id="no-root"),
        pytest.param("swap-root", "issuing-ca.pem is not signed by root-ca.pem", id="unchained"),
        pytest.param("garbage-cert", "certs/", id="unreadable-cert"),
    ])
    def test_incomplete_or_unchained_directory_is_a_config_error(self, published, tmp_path,
                                                                 pki_cache, damage, message):
        """A broken --pki directory: ConfigError naming the file (one line, exit 2 in the CLI)."""
        _, source = published
        directory = tmp_path / "pki"
        shutil.copytree(source, directory)
        if damage == "swap-root":
            other = tmp_path / "other"
            write_pki(Pki(SignatureAlgorithm.ED25519, cache_dir=tmp_path / "keys"), other)
            shutil.copy(other / "root-ca.pem", directory / "root-ca.pem")
        elif damage == "garbage-cert":
            (directory / "certs" / f"{CODES[0]}-agency.pem").write_text("not a certificate")
        else:
            (directory / damage).unlink()
        with pytest.raises(ConfigError, match="--pki ") as caught:
            load_authority(directory)
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)
