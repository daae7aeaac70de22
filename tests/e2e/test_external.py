"""The user's own service under test (``--external``), on the real broker: lgsp-sim plays every
other party against the reference recipient (examples/reference_recipient: confluent-kafka, no
lgsp import) and grades it. The good service passes every check; each misbehaviour switch fails
exactly the checks of the rule it breaks, with a real delivery as the example."""

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
from lgsp.external import ExternalParties
from lgsp.faults import FaultPlan
from lgsp.run import LoadRun
from tests.e2e.outside_process import outside_process
from tests.e2e.test_load import config

pytestmark = pytest.mark.e2e

pytest.importorskip("confluent_kafka")

ROOT = Path(__file__).resolve().parents[2]
AGENCY = "000.00.01.H56"
"""Sở Nội vụ Thanh Hóa's code in the default profiles: a department on LGSP-H56."""
DOCUMENTS = 40


def reference_service(bootstrap: str, run_id: str, pki: Path, log: Path,
                      *switches: str) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """The reference recipient for ``AGENCY`` (``tests.e2e.outside_process``)."""
    return outside_process("examples.reference_recipient", [
        "--bootstrap", bootstrap, "--run-id", run_id, "--agency", AGENCY, "--pki", str(pki),
        "--step-ms", "10", *switches], log)


def graded_run(bootstrap: str, pki_cache: Path, tmp_path: Path, *switches: str,
               **overrides: Any) -> dict[str, Any]:
    run_id = "text" + str(time.time_ns())[-9:]
    pki = tmp_path / "pki"
    settings: dict[str, Any] = {"documents": DOCUMENTS, "rate": 20.0, "pki_out": pki,
                                "settle_timeout_s": 20.0,
                                "external": ExternalParties((AGENCY,), ready_timeout_s=60.0)}
    settings.update(overrides)
    cfg = config(pki_cache, run_id, **settings)
    log = tmp_path / "service.log"
    with reference_service(bootstrap, run_id, pki, log, *switches) as service:
        report = asyncio.run(LoadRun(cfg, BrokerConfig(bootstrap=bootstrap)).run())
        assert service.poll() is None, log.read_text(errors="replace")[-3000:]
    return report


def failures(report: dict[str, Any]) -> dict[str, int]:
    section = report["system_under_test"]
    (party,) = section["parties"]
    assert party["party"] == AGENCY
    return {c["check"]: c["failures"] for c in party["checks"] if c["failures"]}


def examples(report: dict[str, Any], check: str) -> list[dict[str, str]]:
    (party,) = report["system_under_test"]["parties"]
    return next(c["examples"] for c in party["checks"] if c["check"] == check)


def test_the_good_service_passes_every_check(kafka_bootstrap, pki_cache, tmp_path):
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path)
    section = report["system_under_test"]
    (party,) = section["parties"]
    assert failures(report) == {}
    assert section["passed"]
    assert party["ready_after_s"] is not None
    assert party["probe_statuses"] >= 1
    # every document but the agency's own addresses it (--external-share 1)
    assert DOCUMENTS * 0.8 <= party["deliveries"] <= DOCUMENTS
    assert party["statuses"] == 5 * party["deliveries"]  # 01, 03, 04, 05, 06 each
    assert party["statuses_per_s"] == pytest.approx(
        party["statuses"] / report["totals"]["duration_s"], rel=0.01)
    t = report["totals"]
    assert (t["lost"], t["incomplete"], t["rejected"]) == (0, 0, 0)
    assert report["latency"]["external_send_to_arrived"]["count"] == party["deliveries"]
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)


def test_the_good_service_refuses_each_injected_fault_with_its_reason(kafka_bootstrap, pki_cache,
                                                                      tmp_path):
    kinds = ("bad-signature", "tampered-content", "foreign-signer", "expired-certificate",
             "revoked-certificate", "unknown-issuer", "undecodable")
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path, documents=80, faults=FaultPlan.parse(
        [",".join(f"{kind}=8%" for kind in kinds)]))
    assert failures(report) == {}
    (party,) = report["system_under_test"]["parties"]
    assert set(party["faults"]) == set(kinds)
    for kind, row in party["faults"].items():
        assert row["injected"] > 0, kind
        assert row["refused_right"] == row["injected"], (kind, row)
        assert row["detection_share"] == 1.0


@pytest.mark.parametrize(("switches", "overrides", "broken"), [
    (("--skip-status", "04"), {}, {"no_skipped_step"}),
    (("--out-of-order",), {}, {"lifecycle_order"}),
    (("--answer-twice",), {}, {"one_status_per_step", "nothing_after_end"}),
    (("--drop-share", "0.3"), {"ack_timeout_s": 4.0}, {"answered"}),
    (("--delay-ms", "2500"), {"ack_timeout_s": 1.0}, {"answered"}),
    (("--accept-bad-signatures",), {"faults": FaultPlan.parse(["bad-signature=25%"])},
     {"fault_refused"}),
    (("--no-seal",), {}, {"status_sealed"}),
    (("--seal-with-parent",), {}, {"status_sealed"}),
], ids=["skip-status", "out-of-order", "answer-twice", "drop-share", "delay", "accept-bad",
        "no-seal", "seal-with-parent"])
def test_each_misbehaviour_fails_exactly_its_checks(kafka_bootstrap, pki_cache, tmp_path,
                                                    switches, overrides, broken):
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path, *switches, **overrides)
    failed = failures(report)
    assert set(failed) == broken, failed
    assert not report["system_under_test"]["passed"]
    for check in broken:
        (first, *_) = examples(report, check)
        assert first["recipient"] == AGENCY
        assert first["document_id"].startswith("000.")  # a real delivery, not the probe
        assert "KT-LGSPSIM" not in first["document_id"]


def test_a_redelivered_document_answered_again_fails_one_status_per_step(
        kafka_bootstrap, pki_cache, tmp_path):
    report = graded_run(kafka_bootstrap, pki_cache, tmp_path, "--answer-redelivered",
                        faults=FaultPlan.parse(["duplicate-delivery=25%"]))
    failed = failures(report)
    assert "one_status_per_step" in failed
    assert set(failed) <= {"one_status_per_step", "nothing_after_end"}, failed
    (party,) = report["system_under_test"]["parties"]
    assert party["faults"]["duplicate-delivery"]["injected"] > 0


def test_a_service_that_never_answers_ends_the_run_before_any_load(kafka_bootstrap, pki_cache,
                                                                   tmp_path):
    from lgsp.run.readiness import ExternalNotReady

    cfg = config(pki_cache, "tsilent" + str(time.time_ns())[-9:], documents=10,
                 external=ExternalParties((AGENCY,), ready_timeout_s=3.0))
    began = time.monotonic()
    with pytest.raises(ExternalNotReady, match=f"no answer from external recipient {AGENCY} "
                                               r"within 3 s \(--external-timeout\)"):
        asyncio.run(LoadRun(cfg, BrokerConfig(bootstrap=kafka_bootstrap)).run())
    assert time.monotonic() - began < 60
