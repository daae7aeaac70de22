"""The crash, outage and fault scenarios, shared by the e2e tests and the repeat harness.

Each scenario is a driver (``play``: one run on a real broker, with its kills, cuts or injected
faults, returning what happened) and a ``check`` (the assertions a user relies on). The e2e tests
run each once on the test broker (``Scenario.run``); ``benchmarks/repeat_scenarios.py`` plays each
N times, with and without a CPU hog, and counts what the checks and the reports say.

No pytest in here, so the harness can use it as plain code: a failed check or a wait that ran out
raises ``AssertionError`` (``tests/conftest.py`` registers this module for pytest's assertion
rewriting, so a failing test still shows the values).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

from consumers.recovery import SentStatuses, statuses_sent
from lgsp.broker.embedded import free_port
from lgsp.broker.proxy import BrokerProxy
from lgsp.bus.admin import delete_topics
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.domain import StatusCode
from lgsp.faults import EXPECTED, SEALED_FAULTS, FaultKind, FaultPlan
from lgsp.run import LoadRun
from tests.conftest import own_broker
from tests.e2e.test_load import config

KILLS = 3
DOCUMENTS_PER_S = 15.0
DURATION_S = 24.0
TRACKER_RUN_S = 36.0
ROTATING_RUN_S = 70.0
ROTATING_ACK_TIMEOUT_S = 30.0
"""Longer than recovery takes on a busy 2-core machine with a CPU hog: three workers killed one
after another (a restart took up to 7.7 s with the load average at 7), a document that waited
for the router and then for the recipient came 12-17 s late. A shorter ack timeout counts such
documents as lost though every one arrives (their statuses then come as
``unknown_or_finished``, five per delivery: that is how the late ones were told from lost ones).
Generation g is deleted 4g + 44 s into the schedule, or later while a worker still holds it — a
restarting worker holds every generation not yet deleted until it reports — so the schedule runs
on long enough after the kills for deletion to go on."""
KILL_DEADLINE_S = 240.0
BEGIN_TIMEOUT_S = 120.0
FAULT_DOCUMENTS = 650
FAULT_RATE = 4 / 100  # every kind, 14 × 4 % = 56 % of the documents faulty


class Kind(StrEnum):
    CRASH = "crash"
    OUTAGE = "outage"
    FAULT = "fault"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ground:
    """Where a scenario runs."""

    bootstrap: str
    """The broker's address as the run's clients use it (the proxy's when there is one)."""
    proxy: BrokerProxy | None = None
    """A plain TCP proxy in front of the broker that the scenario may cut (outages)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one play of a scenario left to check."""

    report: dict[str, Any]
    """The run's own report."""
    load: LoadRun
    killed: Counter[str] = field(default_factory=Counter)
    """SIGKILLs sent, by worker name."""
    issued: dict[tuple[str, str], SentStatuses] | None = None
    """Every status the recipients issued, read back from the bus after the run."""
    ended_after_s: float | None = None
    """Seconds from cutting the network for good to the run's end."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    kind: Kind
    summary: str
    play: Callable[[Ground, Path, str], Outcome]
    """(ground, PKI cache, run id) → what happened."""
    check: Callable[[Outcome], None]
    cuttable: bool = False
    """Needs a broker of its own behind a proxy it can cut (``cuttable_broker``)."""
    lossless: bool = True
    """Promises 0 lost and 0 incomplete (a broker gone for good does not)."""

    def run(self, ground: Ground, pki_cache: Path, run_id: str) -> Outcome:
        outcome = self.play(ground, pki_cache, run_id)
        self.check(outcome)
        return outcome


def _fail(message: str) -> NoReturn:
    raise AssertionError(message)


@contextlib.contextmanager
def cuttable_broker(state_dir: Path) -> Iterator[tuple[str, BrokerProxy]]:
    """A broker of its own (the embedded one, or Apache Kafka with
    ``LGSP_TEST_OWN_BROKER=apache-kafka``, its data in ``state_dir``) behind a plain TCP proxy it
    advertises: stopping the proxy drops every connection while the broker keeps its data (a
    real network cut). Yields the broker's own address and the proxy."""
    port = free_port()
    with own_broker(advertised_port=port, state_dir=state_dir) as address:
        proxy = BrokerProxy(port=port, target=address)
        try:
            proxy.start_sync()
            yield address, proxy
        finally:
            proxy.stop()


# ---- crashes ------------------------------------------------------------------------------------
async def kill_repeatedly(load: LoadRun, run: asyncio.Task[Any],
                          roles: tuple[str, ...] = ("route", "receive"),
                          rounds: int = KILLS) -> Counter[str]:
    """SIGKILL the process of each of ``roles`` in turn, ``rounds`` times each, every time once
    a fresh incarnation has joined the running schedule."""
    killed: Counter[str] = Counter()
    dead: set[int] = set()  # a killed process may look alive until it is reaped
    deadline = time.monotonic() + KILL_DEADLINE_S
    for _ in range(rounds):
        for role in roles:
            while True:
                if run.done():
                    run.result()  # the run failed: say why
                    _fail("the run ended before every kill happened")
                if time.monotonic() > deadline:
                    _fail(f"no live {role} worker to kill within {KILL_DEADLINE_S:.0f} s")
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
                _fail(f"{name} (pid {pid}) ended before it could be killed: the run is too "
                      "short for the kills")
            killed[name] += 1
            dead.add(pid)
    return killed


def play_killed_routers_and_recipients(ground: Ground, pki_cache: Path, run_id: str) -> Outcome:
    cfg = config(pki_cache, run_id, documents=None, duration_s=DURATION_S,
                 rate=DOCUMENTS_PER_S, ack_timeout_s=40.0, settle_timeout_s=90.0,
                 keep_topics=True)  # read back below what the recipients sent
    broker = BrokerConfig(bootstrap=ground.bootstrap)
    load = LoadRun(cfg, broker, bus_workers=1)

    async def scenario() -> tuple[dict[str, Any], Counter[str]]:
        run = asyncio.create_task(load.run())
        killed = await kill_repeatedly(load, run)
        return await run, killed

    report, killed = asyncio.run(scenario())
    topics, platforms = load.plan.topics, load.plan.topology.platforms
    issued = asyncio.run(statuses_sent(broker, [topics.inbound(p) for p in platforms],
                                       EventCodec(AvroCodec(FileSchemaRegistry())),
                                       lambda _code: True))
    asyncio.run(delete_topics(broker, topics.all_for(platforms)))
    return Outcome(report=report, load=load, killed=killed, issued=issued)


def check_killed_routers_and_recipients(outcome: Outcome) -> None:
    report = outcome.report
    assert outcome.killed == {"route 1/1": KILLS, "receive 1/1": KILLS}
    assert report["run"]["restarts"] == {"receive 1/1": KILLS, "route 1/1": KILLS}
    t = report["totals"]
    assert t["documents"] == int(DURATION_S * DOCUMENTS_PER_S)
    assert (t["lost"], t["incomplete"], t["rejected"], t["undeliverable"]) == (0, 0, 0, 0), \
        f"statuses after the end (late ones): {report['unexpected_statuses']}"
    assert t["sent"] == t["delivered"] == t["completed"]
    # a status the bus carried twice after a router restart is absorbed by the tracker: a
    # "duplicate", or "unknown_or_finished" once its delivery is over; never "reissued"
    assert set(report["unexpected_statuses"]) <= {"duplicate", "unknown_or_finished"}
    # exactly once at the recipients: every status they issued, read back from the bus
    issued = outcome.issued
    assert issued is not None
    assert len(issued) == t["sent"], "one lifecycle per delivery"
    for key, statuses in issued.items():
        repeated = [c for c in set(statuses.codes)
                    if statuses.codes.count(c) > 1 and c is not StatusCode.IN_PROGRESS]
        assert not repeated, f"{key} issued {repeated} more than once: {statuses.codes}"
        assert statuses.codes[0] is StatusCode.ARRIVED
        assert statuses.codes[-1] is StatusCode.COMPLETED


def play_killed_while_topics_rotate(ground: Ground, pki_cache: Path, run_id: str) -> Outcome:
    cfg = config(pki_cache, run_id, documents=None, duration_s=ROTATING_RUN_S,
                 rate=DOCUMENTS_PER_S, rotate_s=4.0, ack_timeout_s=ROTATING_ACK_TIMEOUT_S,
                 settle_timeout_s=30.0,
                 keep_topics=True)  # what rotation deleted, not the end-of-run clean-up
    broker = BrokerConfig(bootstrap=ground.bootstrap)
    load = LoadRun(cfg, broker, bus_workers=1)

    async def scenario() -> tuple[dict[str, Any], Counter[str]]:
        run = asyncio.create_task(load.run())
        deadline = time.monotonic() + KILL_DEADLINE_S
        while load.rotator is None or load.rotator.deleted < 0:
            if run.done():
                run.result()
                _fail("the run ended before a generation was deleted")
            assert time.monotonic() < deadline, "no generation deleted within 240 s"
            await asyncio.sleep(0.1)
        killed = await kill_repeatedly(load, run, roles=("route", "receive", "track"),
                                       rounds=1)
        return await run, killed

    report, killed = asyncio.run(scenario())
    if load.rotator is not None:
        asyncio.run(delete_topics(broker, [
            name for g in range(load.rotator.deleted + 1, load.rotator.created + 1)
            for name in load.plan.topics.generation(load.plan.topology.platforms, g)]))
    return Outcome(report=report, load=load, killed=killed)


def check_killed_while_topics_rotate(outcome: Outcome) -> None:
    report, load = outcome.report, outcome.load
    assert outcome.killed == {"route 1/1": 1, "receive 1/1": 1, "track 1/1": 1}
    assert report["run"]["restarts"] == {"receive 1/1": 1, "route 1/1": 1, "track 1/1": 1}
    t = report["totals"]
    assert t["documents"] == int(ROTATING_RUN_S * DOCUMENTS_PER_S)
    assert (t["lost"], t["incomplete"], t["rejected"], t["undeliverable"]) == (0, 0, 0, 0), \
        f"statuses after the end (late ones): {report['unexpected_statuses']}"
    assert t["sent"] == t["delivered"] == t["completed"]
    assert set(report["unexpected_statuses"]) <= {"duplicate", "unknown_or_finished"}
    assert load.rotator is not None
    assert load.rotator.deleted >= 2


def play_killed_tracker(ground: Ground, pki_cache: Path, run_id: str) -> Outcome:
    cfg = config(pki_cache, run_id, documents=None, duration_s=TRACKER_RUN_S,
                 rate=DOCUMENTS_PER_S, faults=FaultPlan.parse(["all=3%"]))
    load = LoadRun(cfg, BrokerConfig(bootstrap=ground.bootstrap), bus_workers=1)

    async def scenario() -> tuple[dict[str, Any], Counter[str]]:
        run = asyncio.create_task(load.run())
        killed = await kill_repeatedly(load, run, roles=("track",))
        return await run, killed

    report, killed = asyncio.run(scenario())
    return Outcome(report=report, load=load, killed=killed)


def check_killed_tracker(outcome: Outcome) -> None:
    report = outcome.report
    assert outcome.killed == {"track 1/1": KILLS}
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


# ---- outages ------------------------------------------------------------------------------------
async def _begun(load: LoadRun, run: asyncio.Task[Any]) -> None:
    """Until the schedule has begun (the broker watch is on); a run failing first says why."""
    deadline = time.monotonic() + BEGIN_TIMEOUT_S
    while load.watch is None and not run.done():
        if time.monotonic() > deadline:
            _fail(f"the schedule did not begin within {BEGIN_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.02)
    if run.done():
        run.result()


def _proxy(ground: Ground) -> BrokerProxy:
    if ground.proxy is None:
        raise ValueError("an outage scenario needs a cuttable broker (cuttable_broker())")
    return ground.proxy


def play_short_outage(ground: Ground, pki_cache: Path, run_id: str) -> Outcome:
    proxy = _proxy(ground)
    cfg = config(pki_cache, run_id, documents=None, duration_s=16.0, rate=15.0,
                 ack_timeout_s=45.0, settle_timeout_s=90.0, broker_timeout_s=30.0)
    load = LoadRun(cfg, BrokerConfig(bootstrap=ground.bootstrap))

    async def scenario() -> dict[str, Any]:
        run = asyncio.create_task(load.run())
        await _begun(load, run)
        await asyncio.sleep(4.0)
        proxy.stop()  # every client connection drops; new ones are refused
        await asyncio.sleep(5.0)
        proxy.start_sync()
        return await run

    return Outcome(report=asyncio.run(scenario()), load=load)


def check_short_outage(outcome: Outcome) -> None:
    report, load = outcome.report, outcome.load
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


def play_broker_gone(ground: Ground, pki_cache: Path, run_id: str) -> Outcome:
    proxy = _proxy(ground)
    cfg = config(pki_cache, run_id, documents=None, duration_s=60.0, rate=15.0,
                 broker_timeout_s=6.0)
    load = LoadRun(cfg, BrokerConfig(bootstrap=ground.bootstrap))

    async def scenario() -> tuple[dict[str, Any], float]:
        run = asyncio.create_task(load.run())
        await _begun(load, run)
        # cut once deliveries are being confirmed (a fresh Apache Kafka first creates its
        # 50-partition offsets topic: the first seconds may confirm nothing)
        deadline = time.monotonic() + BEGIN_TIMEOUT_S
        while load.live.get("delivered", 0) == 0 and not run.done():
            if time.monotonic() > deadline:
                _fail(f"no delivery confirmed within {BEGIN_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)
        proxy.stop()
        cut = time.monotonic()
        report = await run
        return report, time.monotonic() - cut

    report, ended_after_s = asyncio.run(scenario())
    return Outcome(report=report, load=load, ended_after_s=ended_after_s)


def check_broker_gone(outcome: Outcome) -> None:
    report, ended_after_s = outcome.report, outcome.ended_after_s
    assert "lost the broker" in report["run"]["error"]
    assert report["run"]["exit_code"] == 4
    # the watch's 6 s, then a bounded wind-down (workers aborted, clients closed without waiting
    # out their request timeouts)
    assert ended_after_s is not None
    assert 6.0 < ended_after_s < 6.0 + 40.0, ended_after_s
    t = report["totals"]
    assert 0 < t["delivered"] < t["sent"], "what was confirmed before the cut, and no more"
    assert t["documents"] < 900


# ---- faults -------------------------------------------------------------------------------------
def play_every_fault_kind(ground: Ground, pki_cache: Path, run_id: str) -> Outcome:
    """Two worker processes, every fault kind at 4 %."""
    cfg = config(pki_cache, run_id, documents=FAULT_DOCUMENTS, rate=130.0,
                 faults=FaultPlan.parse([f"all={FAULT_RATE}"]))
    load = LoadRun(cfg, BrokerConfig(bootstrap=ground.bootstrap), workers=2)
    return Outcome(report=asyncio.run(load.run()), load=load)


def _kinds(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["kind"]: k for k in report["faults"]["kinds"]}


def _injectable(report: dict[str, Any]) -> list[FaultKind]:
    """The kinds ``all=`` injects: forged-status only when the run checks seals."""
    sealed = (report.get("forged_statuses") or {}).get("required", False)
    return [k for k in FaultKind if sealed or k not in SEALED_FAULTS]


def check_every_kind_detected(report: dict[str, Any]) -> None:
    kinds = _kinds(report)
    assert set(kinds) == {k.value for k in _injectable(report)}, "each kind drawn at least once"
    for kind in _injectable(report):
        row = kinds[kind.value]
        assert row["injected"] > 0
        assert (row["detected"], row["missed"], row["undecided"]) == (row["injected"], 0, 0), \
            (row, report["totals"], report["faults"]["false_positives"],
             report["unexpected_statuses"])
        assert row["by"] == {EXPECTED[kind]: row["injected"]}, row
    faults = report["faults"]
    assert faults["detection_share"] == 1.0
    assert faults["injected"] == faults["detected"]


def check_no_false_positive(report: dict[str, Any]) -> None:
    totals = report["totals"]
    seen = {"false_positives": report["faults"]["false_positives"], "totals": totals,
            "unexpected_statuses": report["unexpected_statuses"],
            "restarts": report["run"].get("restarts"), "error": report["run"].get("error")}
    assert report["faults"]["false_positives"] == {}, seen
    assert totals["lost"] == 0, seen
    assert totals["incomplete"] == 0, seen


def check_counts_agree_with_faults(report: dict[str, Any]) -> None:
    """Each detection is also counted where it happened: rejections by reason, transport FAIL,
    dead letters, refusals at send, absorbed duplicates, unexpected statuses."""
    kinds = _kinds(report)
    by_reason = {"bad_signature": "bad-signature", "tampered": "tampered-content",
                 "expired": "expired-certificate", "revoked": "revoked-certificate",
                 "unknown_issuer": "unknown-issuer", "signer_not_sender": "foreign-signer",
                 "schema_invalid": "schema-invalid", "undecodable": "undecodable"}
    assert set(report["rejections"]) == set(by_reason)
    for reason, kind in by_reason.items():  # one 02 per recipient of each faulty document
        assert report["rejections"][reason] >= kinds[kind]["injected"]
    assert report["signing"]["verification"]["failures"] == {
        r: n for r, n in report["rejections"].items()
        if r not in ("schema_invalid", "undecodable")}
    assert report["dead_letters"] == {
        "schema_invalid": report["rejections"]["schema_invalid"],
        "undecodable": report["rejections"]["undecodable"]}
    assert report["undeliverable_reasons"] == {
        "unknown_recipient": kinds["unknown-recipient"]["injected"]}
    assert report["refused_at_send"] == {
        "secret_document": kinds["secret-document"]["injected"]}
    absorbed = sum(r["duplicates_absorbed"] for r in report["routing"]["routes"])
    assert absorbed == kinds["duplicate-delivery"]["injected"]
    statuses = report["unexpected_statuses"]
    # 04 before 03: a step missing, then late (out of order); 03 never sent: missing only
    assert set(statuses) == {"missing_status", "out_of_order"}
    assert statuses["out_of_order"] >= kinds["out-of-order-status"]["injected"]
    assert statuses["missing_status"] - statuses["out_of_order"] >= \
        kinds["dropped-status"]["injected"]
    forged = report["forged_statuses"]
    if "forged-status" in kinds:  # one forged 06 per recipient of each such document, all told
        assert forged["forged"] == forged["injected"] >= kinds["forged-status"]["injected"]
        assert forged["by_reason"] == {"sealed_by_other": {"06": forged["forged"]}}
    else:
        assert forged["forged"] == 0


def check_every_fault_kind(outcome: Outcome) -> None:
    check_every_kind_detected(outcome.report)
    check_no_false_positive(outcome.report)
    check_counts_agree_with_faults(outcome.report)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(name="crash-router-recipient", kind=Kind.CRASH,
             summary="router and recipient processes SIGKILLed 3 times each",
             play=play_killed_routers_and_recipients,
             check=check_killed_routers_and_recipients),
    Scenario(name="crash-rotating-topics", kind=Kind.CRASH,
             summary="router, recipient and tracker SIGKILLed once each while topics rotate",
             play=play_killed_while_topics_rotate, check=check_killed_while_topics_rotate),
    Scenario(name="crash-tracker", kind=Kind.CRASH,
             summary="tracker SIGKILLed 3 times, every fault kind injected at 3 %",
             play=play_killed_tracker, check=check_killed_tracker),
    Scenario(name="outage-short", kind=Kind.OUTAGE,
             summary="the network to the broker cut for 5 s mid-run",
             play=play_short_outage, check=check_short_outage, cuttable=True),
    Scenario(name="outage-broker-gone", kind=Kind.OUTAGE,
             summary="the network cut for good: exit 4 and the report of what was confirmed",
             play=play_broker_gone, check=check_broker_gone, cuttable=True, lossless=False),
    Scenario(name="faults-every-kind", kind=Kind.FAULT,
             summary="2 workers, every fault kind at 4 %: each detected by its check",
             play=play_every_fault_kind, check=check_every_fault_kind),
)


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; ``KeyError`` naming the known ones otherwise."""
    for found in SCENARIOS:
        if found.name == name:
            return found
    raise KeyError(f"no scenario {name!r}; known: {', '.join(s.name for s in SCENARIOS)}")
