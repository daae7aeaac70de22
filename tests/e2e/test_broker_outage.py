"""The broker goes away: a short network outage is ridden out (clients retry with backoff) and
loses nothing; a broker gone for good ends the run with a clear error, exit 4 and the report of
what was confirmed.

The outage is a real cut: the broker sits behind a plain TCP proxy (``socat``) that it advertises,
and stopping the proxy drops every connection while the broker keeps its data. The shared broker
fixture cannot be cut without cutting every other test, so these tests start their own broker:
the embedded one, or Apache Kafka in CI's Kafka tier (``LGSP_TEST_OWN_BROKER=apache-kafka``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lgsp.broker.embedded import free_port
from lgsp.broker.proxy import BrokerProxy
from lgsp.cli.load_run import LoadRun
from lgsp.config import BrokerConfig
from tests.cli.test_cli import LGSP
from tests.conftest import own_broker, wait_for
from tests.e2e.test_load import config

pytestmark = pytest.mark.e2e


@pytest.fixture
def cuttable(tmp_path) -> Iterator[tuple[str, BrokerProxy]]:
    """A broker of this test's own (the embedded one, or Apache Kafka in CI's Kafka tier) that
    advertises the proxy's port, and the proxy."""
    port = free_port()
    with own_broker(advertised_port=port, state_dir=tmp_path / "broker") as address:
        proxy = BrokerProxy(port=port, target=address)
        proxy.start_sync()
        try:
            yield address, proxy
        finally:
            proxy.stop()


async def _begun(load: LoadRun, run: asyncio.Task[Any]) -> None:
    """Until the schedule has begun (the broker watch is on); a run failing first says why."""
    await wait_for(lambda: load.watch is not None or run.done(), timeout_s=120,
                   what="the schedule to begin")
    if run.done():
        run.result()


def test_a_short_network_outage_loses_nothing(cuttable, pki_cache, run_id):
    _broker, proxy = cuttable
    cfg = config(pki_cache, run_id, documents=None, duration_s=16.0, rate=15.0,
                 ack_timeout_s=45.0, settle_timeout_s=90.0, broker_timeout_s=30.0)
    load = LoadRun(cfg, BrokerConfig(bootstrap=proxy.address))

    async def scenario() -> dict[str, Any]:
        run = asyncio.create_task(load.run())
        await _begun(load, run)
        await asyncio.sleep(4.0)
        proxy.stop()  # every client connection drops; new ones are refused
        await asyncio.sleep(5.0)
        proxy.start_sync()
        return await run

    report = asyncio.run(scenario())
    assert "error" not in report["run"], report["run"].get("error")
    assert load.watch is not None
    assert load.watch.outages == 1, "the watch saw the outage"
    t = report["totals"]
    assert t["documents"] == 240
    assert t["sent"] == t["delivered"] == t["completed"] > 240
    assert (t["lost"], t["incomplete"], t["rejected"], t["dead_letters"]) == (0, 0, 0, 0)
    # a produce retried across the cut may have reached the broker twice, and a commit lost in
    # the cut makes a stage read its records again (at-least-once): the recipients and the
    # tracker absorb such copies — "duplicate" while the delivery is open, "unknown_or_finished"
    # once its 06 is in (on Apache Kafka the copies came after the lifecycles had ended); nothing
    # may be issued twice ("reissued") or out of order
    assert set(report["unexpected_statuses"]) <= {"duplicate", "unknown_or_finished"}, \
        report["unexpected_statuses"]


def test_a_broker_gone_for_good_ends_the_run_with_what_was_confirmed(cuttable, pki_cache,
                                                                      run_id):
    _broker, proxy = cuttable
    cfg = config(pki_cache, run_id, documents=None, duration_s=60.0, rate=15.0,
                 broker_timeout_s=6.0)
    load = LoadRun(cfg, BrokerConfig(bootstrap=proxy.address))

    async def scenario() -> tuple[dict[str, Any], float]:
        run = asyncio.create_task(load.run())
        await _begun(load, run)
        # cut once deliveries are being confirmed (a fresh Apache Kafka first creates its
        # 50-partition offsets topic: the first seconds may confirm nothing)
        await wait_for(lambda: load.live.get("delivered", 0) > 0 or run.done(), timeout_s=60,
                       what="the first confirmed delivery")
        proxy.stop()
        cut = time.monotonic()
        report = await run
        return report, time.monotonic() - cut

    report, ended_after_s = asyncio.run(scenario())
    assert "lost the broker" in report["run"]["error"]
    assert report["run"]["exit_code"] == 4
    # the watch's 6 s, then a bounded wind-down (workers aborted, clients closed without waiting
    # out their request timeouts)
    assert 6.0 < ended_after_s < 6.0 + 40.0, ended_after_s
    t = report["totals"]
    assert 0 < t["delivered"] < t["sent"], "what was confirmed before the cut, and no more"
    assert t["documents"] < 900


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
