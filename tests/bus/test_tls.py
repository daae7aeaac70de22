"""TLS to Kafka with CA verification: the embedded broker behind a TLS-terminating proxy.

The broker of the shared fixture advertises its own plaintext address, so a TLS listener cannot be
put in front of it; these tests start their own embedded broker advertising the proxy's port
(``socat OPENSSL-LISTEN``, see ``lgsp.broker.proxy``). Certificates are real X.509, made here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import select
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lgsp.broker.embedded import EmbeddedBroker, free_port
from lgsp.broker.proxy import BrokerProxy
from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError
from lgsp.run import LoadRun
from tests.cli.test_cli import LGSP
from tests.cli.test_cli import run as run_cli
from tests.e2e.test_load import assert_all_delivered, config

pytestmark = pytest.mark.e2e
DAY = dt.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(path: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


@pytest.fixture(scope="module")
def pems(tmp_path_factory) -> dict[str, Path]:
    """A CA, the broker's certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    d = tmp_path_factory.mktemp("tls")
    ca, ca_key = _ca(d / "ca.pem", "lgsp test CA")
    _ca(d / "other-ca.pem", "some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + 30 * DAY)
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / "broker.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "broker.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return {"ca": d / "ca.pem", "other_ca": d / "other-ca.pem", "cert": d / "broker.pem",
            "key": d / "broker.key"}


@pytest.fixture(scope="module")
def tls_bootstrap(pems) -> Iterator[str]:
    proxy_port = free_port()
    broker = EmbeddedBroker(advertised_port=proxy_port)
    broker.start_sync()
    proxy = BrokerProxy(port=proxy_port, target=broker.bootstrap, certfile=pems["cert"],
                     keyfile=pems["key"])
    try:
        yield proxy.start_sync()
    finally:
        proxy.stop()
        broker.stop()


def test_a_run_through_tls_with_ca_verification_delivers_everything(tls_bootstrap, pems,
                                                                     pki_cache, run_id):
    broker = BrokerConfig(bootstrap=tls_bootstrap, security_protocol="SSL",
                          ssl_cafile=str(pems["ca"]))
    report = asyncio.run(LoadRun(config(pki_cache, run_id, documents=40, rate=40.0),
                                 broker).run())
    assert_all_delivered(report, 40)


def test_a_broker_certificate_from_another_ca_is_refused_clearly(tls_bootstrap, pems,
                                                                 pki_cache, run_id):
    broker = BrokerConfig(bootstrap=tls_bootstrap, security_protocol="SSL",
                          ssl_cafile=str(pems["other_ca"]))
    with pytest.raises(BrokerError, match="certificate is not trusted"):
        asyncio.run(LoadRun(config(pki_cache, run_id, documents=5), broker).run())


def test_the_cli_says_so_in_one_line_and_exits_4(tls_bootstrap, pems, pki_cache):
    result = run_cli(["simulate", "--bootstrap", tls_bootstrap, "--security-protocol", "SSL",
                      "--ssl-cafile", str(pems["other_ca"]), "--documents", "5",
                      "--pki-cache", str(pki_cache), "--no-progress"])
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TLS handshake" in lines[0]
    assert "certificate verify failed" in lines[0] or "not trusted" in lines[0]
    assert "--ssl-cafile" in lines[0]


def test_plaintext_to_the_tls_port_is_not_mistaken_for_success(tls_bootstrap, pki_cache):
    result = run_cli(["simulate", "--bootstrap", tls_bootstrap, "--documents", "5",
                      "--pki-cache", str(pki_cache), "--no-progress"], timeout=120)
    assert result.returncode == 4, result.stderr
    assert "cannot reach Kafka" in result.stderr


def test_lgsp_broker_serves_tls_for_a_simulate_run(pems, pki_cache):
    """What a user runs: ``lgsp broker --tls-cert --tls-key`` in one terminal, ``lgsp simulate
    --security-protocol SSL --ssl-cafile`` in another."""
    broker = subprocess.Popen([*LGSP, "broker", "--tls-cert", str(pems["cert"]), "--tls-key",
                               str(pems["key"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        ready = select.select([broker.stdout], [], [], 60)[0]
        assert ready, "lgsp broker printed no address within 60 s"
        bootstrap = broker.stdout.readline().strip()  # type: ignore[union-attr]
        result = run_cli(["simulate", "--bootstrap", bootstrap, "--security-protocol", "SSL",
                          "--ssl-cafile", str(pems["ca"]), "--documents", "20", "--rate", "40",
                          "--sig-alg", "ed25519", "--pki-cache", str(pki_cache),
                          "--no-progress", "--json"])
        assert result.returncode == 0, result.stderr
        totals = json.loads(result.stdout)["totals"]
        assert totals["documents"] == 20
        assert totals["delivered"] == totals["sent"] > 0
    finally:
        broker.send_signal(signal.SIGINT)
        assert broker.wait(timeout=20) == 0
        broker.stdout.close()  # type: ignore[union-attr]
        broker.stderr.close()  # type: ignore[union-attr]
