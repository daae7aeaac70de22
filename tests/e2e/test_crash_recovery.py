"""Crash recovery on the real broker: the routing, recipient and tracker workers of a run are
killed with SIGKILL mid-run, three times each, and restarted by the coordinator; nothing is lost,
no recipient takes a document in twice, and a restarted tracker rebuilds exact figures."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from typing import Any

import pytest

from consumers.recovery import statuses_sent
from lgsp.bus.admin import delete_topics
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.domain import StatusCode
from lgsp.faults import EXPECTED, FaultKind, FaultPlan
from lgsp.run import LoadRun
from tests.e2e.helpers import interrupted_run
from tests.e2e.test_load import config

pytestmark = pytest.mark.e2e

KILLS = 3
DOCUMENTS_PER_S = 15.0
DURATION_S = 24.0
TRACKER_RUN_S = 36.0
ROTATING_RUN_S = 34.0


async def _kill_repeatedly(load: LoadRun, run: asyncio.Task[Any],
                           roles: tuple[str, ...] = ("route", "receive"),
                           rounds: int = KILLS) -> Counter[str]:
    """SIGKILL the process of each of ``roles`` in turn, ``rounds`` times each, every time once
    a fresh incarnation has joined the running schedule."""
    killed: Counter[str] = Counter()
    dead: set[int] = set()  # a killed process may look alive until it is reaped
    deadline = time.monotonic() + 240
    for _ in range(rounds):
        for role in roles:
            while True:
                if run.done():
                    run.result()  # the run failed: say why
                    pytest.fail("the run ended before every kill happened")
                if time.monotonic() > deadline:
                    pytest.fail(f"no live {role} worker to kill within 240 s")
                live = {name: pid for name, pid in load.bus_processes().items()
                        if name.startswith(role) and pid not in dead}
                if live:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.5)  # let it work a while: the kill lands mid-stream
            name, pid = next(iter(live.items()))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                await asyncio.wait([run], timeout=5)
                if run.done():
                    run.result()  # the run failed: say why
                pytest.fail(f"{name} (pid {pid}) ended before it could be killed: the run is "
                            "too short for the kills")
            killed[name] += 1
            dead.add(pid)
    return killed


def test_killed_routers_and_recipients_lose_nothing(kafka_bootstrap, pki_cache, run_id):
    cfg = config(pki_cache, run_id, documents=None, duration_s=DURATION_S,
                 rate=DOCUMENTS_PER_S, ack_timeout_s=40.0, settle_timeout_s=90.0,
                 keep_topics=True)  # read back below what the recipients sent
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    load = LoadRun(cfg, broker, bus_workers=1)

    async def scenario() -> tuple[dict[str, Any], Counter[str]]:
        run = asyncio.create_task(load.run())
        killed = await _kill_repeatedly(load, run)
        return await run, killed

    report, killed = asyncio.run(scenario())
    assert killed == {"route 1/1": KILLS, "receive 1/1": KILLS}
    assert report["run"]["restarts"] == {"receive 1/1": KILLS, "route 1/1": KILLS}
    t = report["totals"]
    assert t["documents"] == int(DURATION_S * DOCUMENTS_PER_S)
    assert (t["lost"], t["incomplete"], t["rejected"], t["undeliverable"]) == (0, 0, 0, 0)
    assert t["sent"] == t["delivered"] == t["completed"]
    # a status the bus carried twice after a router restart is absorbed by the tracker: a
    # "duplicate", or "unknown_or_finished" once its delivery is over; never "reissued"
    assert set(report["unexpected_statuses"]) <= {"duplicate", "unknown_or_finished"}
    # exactly once at the recipients: every status they issued, read back from the bus
    topics, platforms = load.plan.topics, load.plan.topology.platforms
    issued = asyncio.run(statuses_sent(broker, [topics.inbound(p) for p in platforms],
                                       EventCodec(AvroCodec(FileSchemaRegistry())),
                                       lambda _code: True))
    asyncio.run(delete_topics(broker, topics.all_for(platforms)))
    assert len(issued) == t["sent"], "one lifecycle per delivery"
    for key, statuses in issued.items():
        repeated = [c for c in set(statuses.codes)
                    if statuses.codes.count(c) > 1 and c is not StatusCode.IN_PROGRESS]
        assert not repeated, f"{key} issued {repeated} more than once: {statuses.codes}"
        assert statuses.codes[0] is StatusCode.ARRIVED
        assert statuses.codes[-1] is StatusCode.COMPLETED


def test_killed_workers_recover_while_topics_rotate(kafka_bootstrap, pki_cache, run_id):
    """A topic generation every 4 s, each deleted once its lifecycles are over (g at 4g + 20 s
    into the schedule): after the first deletion the router, the recipient and the tracker are
    killed once each. The restarted ones read back, replay and follow the live generations
    only; nothing is lost."""
    cfg = config(pki_cache, run_id, documents=None, duration_s=ROTATING_RUN_S,
                 rate=DOCUMENTS_PER_S, rotate_s=4.0, ack_timeout_s=6.0, settle_timeout_s=30.0,
                 keep_topics=True)  # what rotation deleted, not the end-of-run clean-up
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    load = LoadRun(cfg, broker, bus_workers=1)

    async def scenario() -> tuple[dict[str, Any], Counter[str]]:
        run = asyncio.create_task(load.run())
        deadline = time.monotonic() + 240
        while load.rotator is None or load.rotator.deleted < 0:
            if run.done():
                run.result()
                pytest.fail("the run ended before a generation was deleted")
            assert time.monotonic() < deadline, "no generation deleted within 240 s"
            await asyncio.sleep(0.1)
        killed = await _kill_repeatedly(load, run, roles=("route", "receive", "track"),
                                        rounds=1)
        return await run, killed

    report, killed = asyncio.run(scenario())
    assert killed == {"route 1/1": 1, "receive 1/1": 1, "track 1/1": 1}
    assert report["run"]["restarts"] == {"receive 1/1": 1, "route 1/1": 1, "track 1/1": 1}
    t = report["totals"]
    assert t["documents"] == int(ROTATING_RUN_S * DOCUMENTS_PER_S)
    assert (t["lost"], t["incomplete"], t["rejected"], t["undeliverable"]) == (0, 0, 0, 0)
    assert t["sent"] == t["delivered"] == t["completed"]
    assert set(report["unexpected_statuses"]) <= {"duplicate", "unknown_or_finished"}
    assert load.rotator is not None
    assert load.rotator.deleted >= 2
    asyncio.run(delete_topics(broker, [
        name for g in range(load.rotator.deleted + 1, load.rotator.created + 1)
        for name in load.plan.topics.generation(load.plan.topology.platforms, g)]))


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
    cfg = config(pki_cache, run_id, documents=None, duration_s=TRACKER_RUN_S,
                 rate=DOCUMENTS_PER_S, faults=FaultPlan.parse(["all=3%"]))
    load = LoadRun(cfg, BrokerConfig(bootstrap=kafka_bootstrap), bus_workers=1)

    async def scenario() -> tuple[dict[str, Any], Counter[str]]:
        run = asyncio.create_task(load.run())
        killed = await _kill_repeatedly(load, run, roles=("track",))
        return await run, killed

    report, killed = asyncio.run(scenario())
    assert killed == {"track 1/1": KILLS}
    assert report["run"]["restarts"] == {"track 1/1": KILLS}
    t = report["totals"]
    assert t["documents"] + t["refused_at_send"] == int(TRACKER_RUN_S * DOCUMENTS_PER_S)
    assert (t["lost"], t["incomplete"]) == (0, 0)
    assert t["sent"] == t["delivered"] + t["undeliverable"]
    assert t["delivered"] == t["completed"] + t["rejected"]
    assert t["send_to_arrived_ms"]["count"] == t["delivered"]
    assert t["send_to_arrived_ms"]["max"] < 1500, t["send_to_arrived_ms"]
    # the series keeps the schedule's origin across restarts: every 01 in a point of the run
    points = report["series"]["points"]
    assert len(points) <= TRACKER_RUN_S + 15, "points past the end of the run"
    assert sum(p["arrived"] for p in points) == t["delivered"]
    faults = report["faults"]
    assert faults["injected"] == faults["detected"] > 0
    assert faults["false_positives"] == {}
    for row in faults["kinds"]:
        assert row["by"] == {EXPECTED[FaultKind(row["kind"])]: row["injected"]}, row
    assert set(report["unexpected_statuses"]) <= {"missing_status", "out_of_order"}
