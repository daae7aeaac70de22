"""Crash recovery on the real broker: the routing, recipient and tracker workers of a run are
killed with SIGKILL mid-run, three times each, and restarted by the coordinator; nothing is lost,
no recipient takes a document in twice, and a restarted tracker rebuilds exact figures."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import interrupted_run
from tests.e2e.scenarios import Ground, scenario

pytestmark = pytest.mark.e2e


def test_killed_routers_and_recipients_lose_nothing(kafka_bootstrap, pki_cache, run_id):
    """Router and recipient processes SIGKILLed three times each: nothing lost, every delivery
    completed, and exactly once at the recipients (each status they issued, read back from the
    bus, issued once)."""
    scenario("crash-router-recipient").run(Ground(bootstrap=kafka_bootstrap), pki_cache, run_id)


def test_killed_workers_recover_while_topics_rotate(kafka_bootstrap, pki_cache, run_id):
    """A topic generation every 4 s, each deleted once its lifecycles are over (g at 4g + 20 s
    into the schedule): after the first deletion the router, the recipient and the tracker are
    killed once each. The restarted ones read back, replay and follow the live generations
    only; nothing is lost."""
    scenario("crash-rotating-topics").run(Ground(bootstrap=kafka_bootstrap), pki_cache, run_id)


def test_ctrl_c_with_bus_workers_drains_and_leaves_no_process(kafka_bootstrap, pki_cache,
                                                              tmp_path):
    code, report, left = interrupted_run(
        ["--duration", "300", "-r", "20", "--sig-alg", "ed25519", "--bus-workers", "1",
         "--bootstrap", kafka_bootstrap, "--pki-cache", str(pki_cache)], tmp_path / "r.json")
    assert code == 130
    assert report["run"]["stopped_early"] is True
    assert report["run"]["bus_workers"] == 1
    assert report["totals"]["lost"] == 0
    assert left == []


def test_a_killed_tracker_rebuilds_its_state(kafka_bootstrap, pki_cache, run_id):
    """The tracker process is killed three times in a run with every fault kind injected: each
    new incarnation rebuilds from the senders' ledger and the statuses, and the report is as
    exact as without a crash — every delivery counted once, every fault detected by its check,
    latencies as the bus had them (a rebuild timing re-read statuses by their second arrival
    would show the seconds of each restart)."""
    scenario("crash-tracker").run(Ground(bootstrap=kafka_bootstrap), pki_cache, run_id)
