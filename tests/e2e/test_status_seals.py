"""Status seals on the real broker (docs/contract.md §7a): a run that seals delivers everything with
no status forged, every status on the bus carrying its recipient's valid seal; the forged-status
fault is detected every time, with no false positive; a status nobody sealed fails the verdict;
a run without seals puts none on the bus; an external recipient's seal key is published."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time

import pytest
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from lgsp.bus import headers
from lgsp.bus.admin import delete_topics, topic_partitions
from lgsp.cli.outcome import finish
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.config import BrokerConfig, StatusSeals
from lgsp.domain import StatusCode, StatusEvent
from lgsp.domain.status import StatusLayer
from lgsp.faults import FaultPlan
from lgsp.metrics.report import build_report
from lgsp.run import LoadRun
from lgsp.signing import Pki, SignatureVerifier, StatusSealCheck
from lgsp.signing.pki_files import load_trust
from producers.sender import vietnam_today
from tests.cli.test_cli import run as run_cli
from tests.conftest import wait_for
from tests.e2e.helpers import simulation
from tests.e2e.test_load import config

pytestmark = pytest.mark.e2e


async def _statuses_on(broker: BrokerConfig, topics: list[str]) -> list[StatusEvent]:
    """Every status record on ``topics`` fresh from its recipient (a forwarded one carries
    lgsp-trace headers), of a finished run: read to their end."""
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    consumer = AIOKafkaConsumer(**broker.consumer_kwargs(None))
    found: list[StatusEvent] = []
    # an admin all-topics request: on Apache Kafka a consumer's own metadata may know none yet
    existing = await topic_partitions(broker, topics)
    partitions = [TopicPartition(t, p) for t in topics for p in existing.get(t, ())]
    assert partitions, f"none of {topics} exists on {broker.bootstrap}"
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp in partitions if ends[tp] > 0}
        async with asyncio.timeout(60):
            while left:
                for records in (await consumer.getmany(*left, timeout_ms=200)).values():
                    found.extend(events.decode_status(record.value) for record in records
                                 if (routing := headers.parse(record.headers)).kind
                                 == headers.STATUS and not routing.trace)
                left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return found


def _read_back(load: LoadRun, broker: BrokerConfig) -> list[StatusEvent]:
    """The statuses the recipients wrote (their platforms' inbound topics), then the topics
    are deleted (the run kept them for this)."""
    topics, platforms = load.plan.topics, load.plan.topology.platforms
    statuses = asyncio.run(_statuses_on(broker, [topics.inbound(p) for p in platforms]))
    asyncio.run(delete_topics(broker, topics.all_for(platforms)))
    return [s for s in statuses if s.layer is StatusLayer.BUSINESS]


def test_a_run_that_seals_delivers_everything_with_no_status_forged(kafka_bootstrap, pki_cache,
                                                                      run_id, tmp_path):
    """--status-seals on, two worker processes (each issues its recipients' seals from the CA
    its coordinator gave it): every delivery completes, every status is checked and none is
    forged; each status on the bus carries a seal of its own recipient that a verifier holding
    only the run's published anchors accepts."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    cfg = config(pki_cache, run_id, documents=60, rate=30.0, status_seals=StatusSeals.ON,
                 keep_topics=True, pki_out=tmp_path / "pki")
    load = LoadRun(cfg, broker, workers=2)
    report = asyncio.run(load.run())
    t = report["totals"]
    assert t["sent"] == t["delivered"] == t["completed"] > 60
    assert (t["lost"], t["incomplete"], t["rejected"]) == (0, 0, 0)
    forged = report["forged_statuses"]
    statuses = 5 * t["sent"]  # 01, 03, 04, 05, 06 each
    assert forged == {"required": True, "checked": statuses, "forged": 0, "injected": 0,
                      "by_reason": {}}
    assert report["signing"]["seal_cost_us"]["count"] == statuses
    assert report["run"]["config"]["status_seals_required"] is True
    finish(report, [], report_path=None, html_path=None, json_out=True)  # exit 0: no raise
    on_the_bus = _read_back(load, broker)
    assert len(on_the_bus) == statuses
    check = StatusSealCheck(SignatureVerifier(Pki(restore=load_trust(tmp_path / "pki"),
                                                  cache_dir=tmp_path / "verifier").directory))
    assert {check(s) for s in on_the_bus} == {None}
    assert {s.seal is not None and s.seal.certificate is not None for s in on_the_bus} == {True}


def test_forged_status_at_10_percent_is_detected_every_time(kafka_bootstrap, pki_cache, run_id):
    """Each injected document's recipients first send a 06 under the sender's seal: every one is
    counted as forged and injected, each document's fault detected, no false positive, and the
    deliveries complete as if nothing had happened; the verdict passes."""
    cfg = config(pki_cache, run_id, documents=120, rate=40.0,
                 faults=FaultPlan.parse(["forged-status=10%"]))
    assert cfg.seals_required
    report = asyncio.run(LoadRun(cfg, BrokerConfig(bootstrap=kafka_bootstrap)).run())
    faults = report["faults"]
    (row,) = faults["kinds"]
    assert row["kind"] == "forged-status"
    assert row["injected"] > 5
    assert (row["detected"], row["missed"]) == (row["injected"], 0)
    assert row["by"] == {"forged status refused": row["injected"]}
    assert faults["false_positives"] == {}
    forged = report["forged_statuses"]
    assert forged["forged"] == forged["injected"] >= row["injected"]
    assert forged["by_reason"] == {"sealed_by_other": {"06": forged["forged"]}}
    t = report["totals"]
    assert t["sent"] == t["delivered"] == t["completed"]
    assert report["unexpected_statuses"] == {}
    finish(report, [], report_path=None, html_path=None, json_out=True)  # exit 0: no raise


def test_a_run_without_seals_puts_none_on_the_bus(kafka_bootstrap, pki_cache, run_id):
    """The default run (no external recipient, no forged-status): nothing sealed or checked."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    cfg = config(pki_cache, run_id, documents=20, rate=20.0, keep_topics=True)
    assert not cfg.seals_required
    load = LoadRun(cfg, broker)
    report = asyncio.run(load.run())
    assert report["forged_statuses"] == {"required": False, "checked": 0, "forged": 0,
                                         "injected": 0, "by_reason": {}}
    assert report["signing"]["seal_cost_us"]["count"] == 0
    assert "seal" not in report["latency"]
    on_the_bus = _read_back(load, broker)
    assert len(on_the_bus) == 5 * report["totals"]["sent"]
    assert {s.seal for s in on_the_bus} == {None}


async def test_an_unsealed_status_is_forged_and_fails_the_verdict(kafka_bootstrap, pki_cache,
                                                                   run_id, capsys):
    """Someone writes an unsealed 03 claiming to come from the recipient: counted as forged
    (unsealed), it moves nothing, and the run fails (exit 1) with a line saying why."""
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",),
                     status_seals=StatusSeals.ON)
    province, dept = "000.00.00.H56", "000.00.01.H56"
    base = dataclasses.replace(sim.traffic.draft(), sender=province, recipients=(dept,),
                               sign_personal=True, sign_agency=True)
    await sim.start([base])
    try:
        document = sim.sender.compose(base, vietnam_today())
        await (await sim.sender.send(document, sim.sender.sign(document, base),
                                     time.monotonic_ns()))
        await wait_for(lambda: sim.tracker.pending == 0, what="the document's genuine 06")
        forged = StatusEvent(layer=StatusLayer.BUSINESS, from_code=dept,
                             document_id=document.document_id, sender=province, recipient=dept,
                             timestamp=dt.datetime.now(dt.UTC),
                             status_code=StatusCode.REGISTERED)
        await sim.producer.send_and_wait(
            sim.topics.inbound(sim.topology.agency(dept).platform),
            sim.events.encode_status(forged), key=province.encode(),
            headers=headers.build(headers.STATUS, document.document_id, dept, (province,)))
        await wait_for(lambda: sum(sim.metrics.forged_statuses.values()) == 1,
                       what="the unsealed 03 counted")
        assert sim.metrics.forged_statuses == {"unsealed|03": 1}
        assert sim.metrics.unexpected_statuses == {}
    finally:
        await sim.stop()
    report = build_report(sim.metrics, run={"run_id": run_id, "config": sim.config.to_json()},
                          topology={}, duration_s=1.0)
    assert report["totals"]["sent"] == report["totals"]["completed"] == 1
    capsys.readouterr()
    with pytest.raises(typer.Exit) as verdict:
        finish(report, [], report_path=None, html_path=None, json_out=True)
    assert verdict.value.exit_code == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith("lgsp: 1 forged status(es): business statuses not sealed by the "
                           "recipient they are about (unsealed 1)"), line


def test_an_external_recipients_seal_key_is_published(tmp_path, pki_cache):
    """--external recipient=CODE --pki-out DIR: its agency-seal certificate and the key to seal
    with (PKCS#8 PEM) are written before the first document, whether or not a service answers
    (here none does: the run ends after the probe timeout, exit 1)."""
    code = "000.00.01.H56"
    pki = tmp_path / "pki"
    r = run_cli(["simulate", "--external", f"recipient={code}", "--run-id",
                 f"tseal{time.time_ns() % 10**8}", "--documents", "5", "--sig-alg", "ed25519",
                 "--external-timeout", "1s", "--pki-out", str(pki), "--pki-cache",
                 str(pki_cache), "--no-progress"])
    assert r.returncode == 1, r.stdout + r.stderr
    cert = x509.load_pem_x509_certificate((pki / "certs" / f"{code}-agency.pem").read_bytes())
    key = load_pem_private_key((pki / "keys" / f"{code}-agency.key").read_bytes(), None)
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    assert sorted(p.name for p in (pki / "keys").iterdir()) == [f"{code}-agency.key"]

