"""Load testing on the real broker: workers, open-loop latency, shapes, rotation, hosts, gates."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lgsp.bus.admin import _admin
from lgsp.bus.topics import TopicNames
from lgsp.config import BrokerConfig, RecipientConfig, StatusSeals
from lgsp.faults import FaultPlan
from lgsp.metrics.prometheus import serve_metrics
from lgsp.metrics.report_merge import merge_reports
from lgsp.metrics.slo import Slo
from lgsp.run import HostShard, LoadRun, SimulationConfig, find_max_rate
from lgsp.signing import SignatureAlgorithm
from tests.cli.test_cli import run as run_cli
from tests.e2e.helpers import interrupted_run, processes_with

pytestmark = pytest.mark.e2e


def config(pki_cache: Path, run_id: str, **overrides: Any) -> SimulationConfig:
    settings: dict[str, Any] = {"run_id": run_id, "pki_cache": pki_cache,
                                "signature_algorithm": SignatureAlgorithm.ED25519,
                                "ack_timeout_s": 30.0, "settle_timeout_s": 60.0,
                                "interval_s": 1.0}
    settings.update(overrides)
    return SimulationConfig(**settings)


def assert_all_delivered(report: dict[str, Any], documents: int) -> None:
    t = report["totals"]
    assert t["documents"] == documents
    assert t["sent"] == t["delivered"] == t["completed"] > documents
    assert (t["lost"], t["incomplete"], t["rejected"], t["dead_letters"]) == (0, 0, 0, 0)
    assert report["unexpected_statuses"] == {}


def test_two_worker_processes_share_the_load_and_their_figures_merge(kafka_bootstrap, pki_cache,
                                                                     run_id):
    load = LoadRun(config(pki_cache, run_id, documents=300, rate=100.0),
                   BrokerConfig(bootstrap=kafka_bootstrap), workers=2)
    report = asyncio.run(load.run())
    assert_all_delivered(report, 300)
    shares = [w["documents"] for w in report["run"]["per_worker"]]
    assert len(shares) == 2
    assert all(shares)
    assert sum(shares) == 300
    assert report["latency"]["send_to_arrived"]["count"] == report["totals"]["delivered"]
    points = report["series"]["points"]
    assert sum(p["target"] for p in points) == sum(p["sent"] for p in points) == 300
    assert sum(p["arrived"] for p in points) == report["totals"]["delivered"]
    for stage in ("sign", "produce_ack", "hop.submit", "hop.deliver", "verify"):
        assert report["latency"][stage]["count"] > 0, stage


def test_intended_time_latency_grows_when_recipients_slow_down(kafka_bootstrap, pki_cache,
                                                               run_id):
    """Open loop: a slow consumer does not slow the schedule; latency from the intended time
    shows the queue growing, while the senders stay on time."""
    slow = RecipientConfig(intake_delay_s=0.02)
    load = LoadRun(config(pki_cache, run_id, documents=240, rate=60.0, recipient=slow),
                   BrokerConfig(bootstrap=kafka_bootstrap))
    report = asyncio.run(load.run())
    assert_all_delivered(report, 240)
    latency = report["latency"]
    assert latency["schedule_lag"]["p99"] < 100, "the schedule must not wait for the consumer"
    sending = [p for p in report["series"]["points"] if p["sent"]]
    assert sending[-1]["target"] > 0
    first, last = sending[0]["send_to_arrived_ms"], sending[-1]["send_to_arrived_ms"]
    # each second adds more work than a second of intake: 01s come back later and later
    assert last["p50"] > 2 * first["p50"]
    assert latency["send_to_arrived"]["max"] > 1000


def test_a_steps_shape_sends_each_step_at_its_rate(kafka_bootstrap, pki_cache, run_id):
    load = LoadRun(config(pki_cache, run_id, documents=None, shape="steps:10x2s,40x2s",
                          rate=40.0), BrokerConfig(bootstrap=kafka_bootstrap))
    report = asyncio.run(load.run())
    assert_all_delivered(report, 100)
    targets = [p["target"] for p in report["series"]["points"][:4]]
    assert targets == [10, 10, 40, 40]
    assert report["load"]["expected_documents"] == 100


def test_topic_rotation_drops_finished_generations(kafka_bootstrap, pki_cache, run_id):
    """Every 6 s of schedule a new topic generation; the old ones are deleted once their
    documents are over, and nothing is lost on the way."""
    cfg = config(pki_cache, run_id, documents=None, duration_s=24.0, rate=8.0,
                 rotate_s=6.0, ack_timeout_s=5.0, settle_timeout_s=20.0,
                 keep_topics=True)  # what rotation deleted, not the end-of-run clean-up
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    load = LoadRun(cfg, broker)
    report = asyncio.run(load.run())
    assert_all_delivered(report, 192)
    assert load.rotator is not None
    # generation g is deleted (g + 1) * 6 + (5 + 5) + 5 s into the schedule: 0 by 21 s
    assert load.rotator.deleted >= 0
    assert load.rotator.created >= 5
    topics = asyncio.run(_list_topics(broker))
    generations = {TopicNames.generation_of(t) for t in topics if t.startswith(f"lgsp.{run_id}.")}
    assert 0 not in generations, "generation 0 was over and must have been deleted"
    assert {TopicNames(run_id).inbound("LGSP-H56", g) for g in range(1, 5)} <= topics


async def _list_topics(broker: BrokerConfig) -> set[str]:
    client = await _admin(broker)
    try:
        return set(await client.list_topics())
    finally:
        await client.close()


def test_two_hosts_reports_merge_into_the_whole_load(kafka_bootstrap, pki_cache, run_id,
                                                     tmp_path):
    """Two hosts (here: two coordinators) run halves of one load against one cluster; their
    reports merge exactly into the whole."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    cfg = config(pki_cache, run_id, documents=200, rate=80.0)

    async def both() -> list[dict[str, Any]]:
        hosts = [LoadRun(cfg, broker, host=HostShard(i, 2)) for i in range(2)]
        return list(await asyncio.gather(*(h.run() for h in hosts)))

    reports = asyncio.run(both())
    halves = [r["totals"]["documents"] for r in reports]
    assert all(halves)
    assert sum(halves) == 200
    paths = []
    for i, report in enumerate(reports):
        paths.append(tmp_path / f"host{i + 1}.json")
        paths[-1].write_text(json.dumps(report), encoding="utf-8")
    merged = merge_reports([(str(p), json.loads(p.read_text())) for p in paths])
    assert_all_delivered(merged, 200)
    assert merged["latency"]["send_to_arrived"]["count"] == sum(
        r["latency"]["send_to_arrived"]["count"] for r in reports)
    assert merged["latency"]["send_to_arrived"]["max"] == max(
        r["latency"]["send_to_arrived"]["max"] for r in reports)
    r = run_cli(["report", "merge", *map(str, paths), "-o", str(tmp_path / "all.json"),
                 "--html", str(tmp_path / "all.html"), "--slo", "lost == 0"])
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "all.json").read_text())["totals"]["documents"] == 200
    assert (tmp_path / "all.html").stat().st_size > 1000


def test_metrics_port_serves_the_runs_counters(kafka_bootstrap, pki_cache, run_id):
    """The counters count every delivery; the latency histogram, like the report's latency,
    leaves the warm-up out (issue 17: it counted warm-up documents the report left out)."""
    load = LoadRun(config(pki_cache, run_id, documents=100, rate=50.0, warmup_s=0.5),
                   BrokerConfig(bootstrap=kafka_bootstrap))

    async def scrape_during_run() -> tuple[dict[str, Any], str, str]:
        with serve_metrics(0, lambda: load.live) as port:
            task = asyncio.create_task(load.run())
            url = f"http://127.0.0.1:{port}/metrics"
            during = ""
            while not task.done():
                during = await asyncio.to_thread(_get, url)
                if "lgsp_sent_total" in during:
                    break
                await asyncio.sleep(0.2)
            report = await task
            return report, during, await asyncio.to_thread(_get, url)

    report, during, after = asyncio.run(scrape_during_run())
    assert "lgsp_in_flight" in during
    values = _samples(after)
    assert values["lgsp_sent_total"] == 100
    assert values["lgsp_delivered_total"] == report["totals"]["delivered"]
    measured = report["latency"]["send_to_arrived"]["count"]
    assert 0 < measured < report["totals"]["delivered"], report["latency"]["send_to_arrived"]
    assert values['lgsp_send_to_arrived_seconds_bucket{le="+Inf"}'] == measured
    assert values["lgsp_send_to_arrived_seconds_count"] == measured


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own server
        return response.read().decode()


def _samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_find_max_doubles_while_trials_sustain_and_says_why(kafka_bootstrap, pki_cache, run_id):
    """Trials double the rate while they sustain it. A trial too short to judge its backlog on
    this (busy) machine is no failure: the same rate runs again, twice as long."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    cfg = config(pki_cache, run_id, documents=None, duration_s=4.0, rate=10.0)
    events: list[tuple[str, dict[str, Any]]] = []
    report = asyncio.run(find_max_rate(
        lambda c: LoadRun(c, broker), cfg, [Slo.parse("p99(send_to_arrived) < 2s")],
        stop=asyncio.Event(), progress=lambda e, d: events.append((e, d)), max_trials=3))
    found = report["find_max"]
    trials = found["trials"]
    assert len(trials) == 3, trials
    for trial, following in itertools.pairwise(trials):
        if trial["too_short"]:
            assert trial["sustained"] is None, trial
            assert (following["rate"], following["duration_s"]) == (trial["rate"],
                                                                     2 * trial["duration_s"])
    judged = [t for t in trials if not t["too_short"]]
    assert judged, trials
    assert [t["rate"] for t in judged] == [10.0, 20.0, 40.0][:len(judged)], trials
    assert all(t["sustained"] for t in judged[:2]), trials  # 10/s and 20/s within 2 s
    assert found["latency_bound_ms"] == 2000.0
    assert found["max_rate"] == max(t["rate"] for t in judged if t["sustained"])
    assert [d["rate"] for e, d in events if e == "trial"] == [t["rate"] for t in trials]
    assert report["totals"]["documents"] == found["max_rate"] * report["run"]["config"][
        "duration_s"]


class TestCommandLine:
    def test_a_breached_gate_exits_6_and_the_report_keeps_the_verdicts(self, kafka_bootstrap,
                                                                      pki_cache, tmp_path):
        out = tmp_path / "r.json"
        r = run_cli(["simulate", "-n", "40", "-r", "40", "--sig-alg", "ed25519",
                     "--bootstrap", kafka_bootstrap, "--pki-cache", str(pki_cache),
                     "--report", str(out), "--slo", "p99(send_to_arrived) < 1us",
                     "--slo", "lost == 0"])
        assert r.returncode == 6, r.stdout + r.stderr
        verdicts = json.loads(out.read_text())["slo"]
        assert [v["passed"] for v in verdicts] == [False, True]
        assert "BREACHED" in r.stdout
        again = run_cli(["report", str(out), "--slo", "lost == 0",
                         "--slo", "p99(send_to_arrived) < 30s"])
        assert again.returncode == 0, again.stdout + again.stderr
        shown = run_cli(["report", str(out), "--html", str(tmp_path / "r.html")])
        assert shown.returncode == 0, "converting a saved run is not a new verdict"
        assert "BREACHED" in shown.stdout  # its own verdicts are shown again

    def test_a_gate_that_cannot_be_read_is_a_usage_error(self):
        r = run_cli(["simulate", "-n", "5", "--slo", "p99(send_to_arrived) <"], timeout=60)
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1
        assert "SLO" in r.stderr

    def test_workers_ctrl_c_drains_writes_the_report_and_leaves_no_process(self, kafka_bootstrap,
                                                                           pki_cache, tmp_path):
        code, report, left = interrupted_run(
            ["--duration", "300", "-r", "20", "--sig-alg", "ed25519", "--workers", "2",
             "--bootstrap", kafka_bootstrap, "--pki-cache", str(pki_cache)], tmp_path / "r.json")
        assert code == 130
        assert report["run"]["stopped_early"] is True
        assert 0 < report["totals"]["documents"] < 6000
        assert report["totals"]["lost"] == 0
        assert left == []


def test_ctrl_c_while_workers_start_exits_130_and_leaves_nothing(kafka_bootstrap, pki_cache):
    """SIGINT to the whole process group while worker processes are still importing."""
    import signal
    import subprocess
    import uuid

    marker = uuid.uuid4().hex
    for delay in (0.8, 1.6):
        with subprocess.Popen(
            ["lgsp", "simulate", "--duration", "60", "-r", "20", "--sig-alg", "ed25519",
             "--workers", "2", "--bootstrap", kafka_bootstrap, "--pki-cache", str(pki_cache),
             "--no-progress"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
            env={**os.environ, "CI": "true", "LGSP_TEST_MARKER": marker}) as proc:
            try:
                proc.communicate(timeout=delay)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.communicate(timeout=60)
            finally:
                proc.kill()
        assert proc.returncode == 130, f"SIGINT after {delay} s"
    assert processes_with(marker) == []


def test_live_lines_never_count_more_sent_than_due_and_end_on_the_schedule_rate(
        kafka_bootstrap, pki_cache, run_id):
    """Issue 17: every live line said "sent 189 of 188 due", and the last line of a steady 40/s
    run read "rate 55/s (target 87/s)". Two workers snapshot on the same ticks; on schedule,
    sent never exceeds due, and once the schedule is over the line gives its whole rates."""
    lines: list[dict[str, Any]] = []
    load = LoadRun(config(pki_cache, run_id, documents=None, rate=40.0, duration_s=3.0),
                   BrokerConfig(bootstrap=kafka_bootstrap), workers=2,
                   progress=lambda event, data: lines.append(dict(data)) if event == "live"
                   else None)
    report = asyncio.run(load.run())
    assert_all_delivered(report, 120)
    assert len(lines) >= 3, lines
    shown = [(line["sent"], line["target"]) for line in lines]
    assert all(sent <= due for sent, due in shown), shown
    last = lines[-1]
    assert last["schedule_done"], last
    assert (last["sent"], last["target"]) == (120, 120), last
    assert (last["target_rate"], last["achieved_rate"]) == (40.0, 40.0), last


def test_documents_signed_ahead_by_a_pool_are_delivered_verified_and_faults_detected(
        kafka_bootstrap, pki_cache, run_id):
    """``--sign-ahead``: signing processes beside each worker sign the documents (RSA-2048)
    before their send time. The recipients verify every signature against the chain as
    before, each injected fault kind is still detected by its own check with no false
    positive, and the sign stage is still reported (the pool's CPU time per document)."""
    from tests.e2e import scenarios  # here: scenarios imports this module's config

    cfg = config(pki_cache, run_id, documents=400, rate=130.0, sign_ahead=1,
                 signature_algorithm=SignatureAlgorithm.RSA2048,
                 # RSA status seals would measure sealing on 2 cores, not signing ahead
                 status_seals=StatusSeals.OFF,
                 faults=FaultPlan.parse(["all=4%"], seals=False))
    report = asyncio.run(LoadRun(cfg, BrokerConfig(bootstrap=kafka_bootstrap), workers=2).run())
    scenarios.check_every_kind_detected(report)
    scenarios.check_no_false_positive(report)
    scenarios.check_counts_agree_with_faults(report)
    signing = report["signing"]
    assert signing["sign_cost_us"]["count"] == signing["documents"] > 300
    assert signing["sign_cost_us"]["p50"] > 0
    assert signing["verification"]["verified"] > signing["documents"]
    assert report["totals"]["lost"] == report["totals"]["incomplete"] == 0
