"""The broker goes away: a short network outage is ridden out (clients retry with backoff) and
loses nothing; a broker gone for good ends the run with a clear error, exit 4 and the report of
what was confirmed.

The outage is a real cut: the broker sits behind a plain TCP proxy (``socat``) that it advertises,
and stopping the proxy drops every connection while the broker keeps its data. The shared broker
fixture cannot be cut without cutting every other test, so these tests start their own broker:
the embedded one, or Apache Kafka in CI's Kafka tier (``LGSP_TEST_OWN_BROKER=apache-kafka``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from lgsp.broker.proxy import BrokerProxy
from tests.cli.test_cli import LGSP
from tests.e2e.scenarios import Ground, cuttable_broker, scenario

pytestmark = pytest.mark.e2e


@pytest.fixture
def cuttable(tmp_path) -> Iterator[tuple[str, BrokerProxy]]:
    """A broker of this test's own (the embedded one, or Apache Kafka in CI's Kafka tier) that
    advertises the proxy's port, and the proxy."""
    with cuttable_broker(tmp_path / "broker") as (address, proxy):
        yield address, proxy


def test_a_short_network_outage_loses_nothing(cuttable, pki_cache, run_id):
    """The network to the broker is cut for 5 s mid-run: the watch sees one outage, the clients
    retry, and every delivery completes; copies a retried produce left are absorbed."""
    _broker, proxy = cuttable
    scenario("outage-short").run(Ground(bootstrap=proxy.address, proxy=proxy), pki_cache,
                                 run_id)


def test_a_broker_gone_for_good_ends_the_run_with_what_was_confirmed(cuttable, pki_cache,
                                                                      run_id):
    """The network is cut for good: the run ends within the watch's 6 s and a bounded
    wind-down, with exit code 4 and the deliveries confirmed before the cut."""
    _broker, proxy = cuttable
    scenario("outage-broker-gone").run(Ground(bootstrap=proxy.address, proxy=proxy),
                                       pki_cache, run_id)


def test_the_cli_writes_the_report_and_exits_4(cuttable, pki_cache, tmp_path):
    _broker, proxy = cuttable
    out = tmp_path / "r.json"
    cli = subprocess.Popen([*LGSP, "simulate", "--bootstrap", proxy.address, "--duration", "60",
                            "--rate", "10", "--sig-alg", "ed25519", "--pki-cache", str(pki_cache),
                            "--broker-timeout", "5", "--no-progress", "--report", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _sent_something(proxy) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        proxy.stop()
        stdout, stderr = cli.communicate(timeout=150)
    finally:
        if cli.poll() is None:
            cli.send_signal(signal.SIGKILL)
            cli.wait()
    assert cli.returncode == 4, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("lgsp: error:")]
    assert len(errors) == 1, stderr
    assert "lost the broker" in errors[0]
    report = json.loads(out.read_text())
    assert report["run"]["exit_code"] == 4
    assert report["totals"]["delivered"] > 0
    assert "JSON report written" in stdout


def _sent_something(proxy: BrokerProxy) -> bool:
    """The run is under way once clients hold connections through the proxy."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{proxy.port} )"],
                         capture_output=True, text=True, check=False)
    return len(out.stdout.splitlines()) >= 3
