"""``lgsp simulate --pki-out`` / ``--pki``: trust anchors a user reaches, shared between runs."""

from __future__ import annotations

import json
import subprocess

from cryptography import x509

from tests.cli.test_cli import run


def _serials(directory) -> dict[str, int]:
    return {p.name: x509.load_pem_x509_certificate(p.read_bytes()).serial_number
            for p in sorted((directory / "certs").glob("*.pem"))}


class TestPkiOut:
    def test_second_run_issues_from_and_trusts_the_first_runs_pki(self, kafka_bootstrap,
                                                                 pki_cache, tmp_path):
        """Run 1 publishes its PKI; run 2 with --pki reuses that CA and its certificates, every
        signature verifies (nothing rejected, none lost), and the published chains pass
        openssl verify -x509_strict."""
        first, second = tmp_path / "first", tmp_path / "second"
        r1 = run(["simulate", "--bootstrap", kafka_bootstrap, "-n", "20", "-r", "40",
                  "--sig-alg", "p256", "--pki-cache", str(pki_cache), "--pki-out", str(first),
                  "--json"])
        assert r1.returncode == 0, r1.stdout + r1.stderr
        assert f"written to {first}/" in r1.stderr
        r2 = run(["simulate", "--bootstrap", kafka_bootstrap, "-n", "20", "-r", "40",
                  "--pki-cache", str(pki_cache), "--pki", str(first), "--pki-out", str(second),
                  "--json"])
        assert r2.returncode == 0, r2.stdout + r2.stderr
        totals = json.loads(r2.stdout)["totals"]
        assert totals["lost"] == 0, totals
        assert totals["rejected"] == 0, totals
        assert (second / "root-ca.pem").read_bytes() == (first / "root-ca.pem").read_bytes()
        before, after = _serials(first), _serials(second)
        assert before, "run 1 published no certificates"
        assert {name: after[name] for name in before} == before  # reused, not reissued
        verify = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-CAfile", "root-ca.pem", "-untrusted",
             "issuing-ca.pem", *(f"certs/{name}" for name in after)],
            capture_output=True, text=True, cwd=second, timeout=60, check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert verify.stdout.count(": OK") == len(after)

    def test_directory_without_the_ca_key_is_one_line_and_exit_2(self, tmp_path):
        """--pki on a directory that cannot issue: one line on stderr, exit 2, no traceback."""
        (tmp_path / "root-ca.pem").write_text("x")
        r = run(["simulate", "-n", "5", "--pki", str(tmp_path)])
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().count("\n") == 0, r.stderr
        assert "--pki" in r.stderr
        assert "Traceback" not in r.stderr

    def test_pki_out_that_cannot_be_a_directory_is_one_line_and_exit_2(self, tmp_path):
        """--pki-out under a regular file: refused before the run starts, one line, exit 2."""
        (tmp_path / "file").write_text("x")
        r = run(["simulate", "-n", "5", "--pki-out", str(tmp_path / "file" / "pki")])
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().count("\n") == 0, r.stderr
        assert "--pki-out" in r.stderr
        assert "written to" not in r.stderr
