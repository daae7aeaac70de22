"""An outside router under test (``--external platform=…``/``vdxp``), on the real broker:
lgsp-sim plays every agency and the other platforms against the reference router
(examples/reference_router: confluent-kafka, no lgsp import) and grades every record it writes.
The good router passes every check and the run delivers everything through it; each misbehaviour
switch fails exactly the check of the rule it breaks, with a real document as the example."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lgsp.config import BrokerConfig
from lgsp.domain.topology import VDXP
from lgsp.external import ExternalParties
from lgsp.faults import FaultPlan
from lgsp.run import LoadRun
from lgsp.run.plan import RunPlan
from tests.e2e.outside_process import outside_process
from tests.e2e.test_load import config

pytestmark = pytest.mark.e2e

pytest.importorskip("confluent_kafka")

ROOT = Path(__file__).resolve().parents[2]
LGSP = "LGSP-H56"
"""Thanh Hóa's LGSP: the default profile's province."""
DOCUMENTS = 40


def reference_router(bootstrap: str, run_id: str, platform: str, directory: Path, log: Path,
                     *switches: str) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """The reference router for ``platform`` (``tests.e2e.outside_process``)."""
    return outside_process("examples.reference_router", [
        "--bootstrap", bootstrap, "--run-id", run_id, "--platform", platform, "--directory",
        str(directory), *switches], log)


def graded_run(bootstrap: str, pki_cache: Path, tmp_path: Path, platform: str, *switches: str,
               **overrides: Any) -> dict[str, Any]:
    run_id = "trouter" + str(time.time_ns())[-9:]
    settings: dict[str, Any] = {
        "documents": DOCUMENTS, "rate": 20.0, "settle_timeout_s": 20.0,
        "external": ExternalParties(platforms=(platform,), ready_timeout_s=60.0)}
    settings.update(overrides)
    cfg = config(pki_cache, run_id, **settings)
    directory = tmp_path / "directory.json"  # what `lgsp topology --directory` prints
    directory.write_text(json.dumps(RunPlan.of(cfg).topology.directory()))
    log = tmp_path / "router.log"
    with reference_router(bootstrap, run_id, platform, directory, log, *switches) as router:
        report = asyncio.run(LoadRun(cfg, BrokerConfig(bootstrap=bootstrap)).run())
        assert router.poll() is None, log.read_text(errors="replace")[-3000:]
    return report


def party(report: dict[str, Any]) -> dict[str, Any]:
    (row,) = report["system_under_test"]["parties"]
    assert row["role"] == "platform"
    return row


def failures(report: dict[str, Any]) -> dict[str, int]:
    return {c["check"]: c["failures"] for c in party(report)["checks"] if c["failures"]}


def test_the_good_lgsp_router_passes_every_check_and_delivers_everything(
        kafka_bootstrap, pki_cache, tmp_path):
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path, LGSP)
    row = party(report)
    assert failures(report) == {}
    assert report["system_under_test"]["passed"]
    assert row["ready_after_s"] is not None
    t = report["totals"]
    assert (t["lost"], t["incomplete"], t["rejected"]) == (0, 0, 0)
    assert t["sent"] == t["delivered"] == t["completed"] > DOCUMENTS
    # most documents of the default profiles are Thanh Hóa's: each went through the outside
    # router (one copy or packet at least), and so did their statuses
    assert row["read"]["documents"] > DOCUMENTS / 2
    assert row["written"]["document"] >= row["read"]["documents"]
    assert row["written"]["status"] == row["read"]["statuses"] > row["read"]["documents"]
    assert report["system_under_test"]["hop_ms"]["count"] > 0
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)


@pytest.mark.parametrize("platform", [VDXP, LGSP])
def test_the_good_router_fails_unknown_recipients_back(kafka_bootstrap, pki_cache, tmp_path,
                                                       platform):
    """Half the unknown recipients are of the sender's own unit (its LGSP fails them), half of
    no province (VDXP fails them): either router has FAIL statuses to write."""
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path, platform, documents=80,
                        faults=FaultPlan.parse(["unknown-recipient=10%"]))
    row = party(report)
    assert failures(report) == {}
    assert row["written"]["fail_status"] > 0
    cases = {c["check"]: c["cases"] for c in row["checks"]}
    assert cases["unknown_recipient_failed"] == row["written"]["fail_status"]
    (kind,) = [k for k in report["faults"]["kinds"] if k["kind"] == "unknown-recipient"]
    assert kind["detected"] == kind["injected"] > 0


@pytest.mark.parametrize(("platform", "switches", "overrides", "broken"), [
    (LGSP, ("--lose-share", "0.2"), {"ack_timeout_s": 5.0}, "copy_delivered"),
    (LGSP, ("--duplicate-share", "0.2"), {}, "one_copy"),
    (LGSP, ("--wrong-topic-share", "0.2"), {"ack_timeout_s": 5.0}, "right_destination"),
    (LGSP, ("--no-trace",), {}, "trace_appended"),
    (LGSP, ("--key-by-document",), {}, "record_intact"),
    (VDXP, ("--no-fail-status",), {"faults": FaultPlan.parse(["unknown-recipient=20%"])},
     "unknown_recipient_failed"),
    (LGSP, ("--no-fail-status",), {"faults": FaultPlan.parse(["unknown-recipient=20%"])},
     "unknown_recipient_failed"),
], ids=["lose", "duplicate", "wrong-topic", "no-trace", "key-by-document", "no-fail-status",
        "lgsp-no-fail-status"])
def test_each_misbehaviour_fails_exactly_its_check(kafka_bootstrap, pki_cache, tmp_path,
                                                   platform, switches, overrides, broken):
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path, platform, *switches, **overrides)
    assert set(failures(report)) == {broken}, [(c["check"], c["examples"][:2])
                                              for c in party(report)["checks"] if c["failures"]]
    assert not report["system_under_test"]["passed"]
    (first, *_) = next(c["examples"] for c in party(report)["checks"] if c["check"] == broken)
    assert first["document_id"].startswith("000.")


def test_a_router_that_splits_packets_fails_one_packet_per_destination(
        kafka_bootstrap, pki_cache, tmp_path):
    """Documents from Thanh Hóa to several central bodies: an LGSP must forward them to the
    axis in one packet."""
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path, LGSP, "--split-packets",
                        documents=80, fan_out_mean=4.0)
    assert set(failures(report)) == {"one_packet_per_destination"}, failures(report)


def test_a_router_that_never_routes_ends_the_run_before_any_load(kafka_bootstrap, pki_cache):
    from lgsp.run.readiness import ExternalNotReady

    cfg = config(pki_cache, "tnorouter" + str(time.time_ns())[-9:], documents=10,
                 external=ExternalParties(platforms=(LGSP,), ready_timeout_s=3.0))
    began = time.monotonic()
    with pytest.raises(ExternalNotReady, match=f"no answer from external router of {LGSP} "
                                               r"within 3 s \(--external-timeout\): its service "
                                               r"must read lgsp\.tnorouter\d+\.lgsp-h56\.inbound"):
        asyncio.run(LoadRun(cfg, BrokerConfig(bootstrap=kafka_bootstrap)).run())
    assert time.monotonic() - began < 60
