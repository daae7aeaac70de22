"""Fault injection on the real broker: every kind injected, each detected by the bus's own
checks (100 %, exact counts, no false positives), and revocations honoured during the run."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import jsonschema
import pytest

from lgsp.bus.revocations import publish_revocations
from producers.sender import vietnam_today
from tests.cli.test_cli import run as run_cli
from tests.conftest import wait_for
from tests.e2e.helpers import simulation
from tests.e2e.scenarios import (
    Ground,
    check_counts_agree_with_faults,
    check_every_kind_detected,
    check_no_false_positive,
    scenario,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def faulty_run(kafka_bootstrap, tmp_path_factory) -> dict[str, Any]:
    """Two worker processes, every fault kind at 4 %: one run shared by the assertions."""
    cache = tmp_path_factory.mktemp("faults-pki")
    outcome = scenario("faults-every-kind").play(Ground(bootstrap=kafka_bootstrap), cache,
                                                 "tfaults" + str(time.time_ns())[-8:])
    return outcome.report


def test_every_kind_is_injected_and_detected_by_its_check(faulty_run):
    check_every_kind_detected(faulty_run)


def test_no_false_positive_on_the_clean_documents(faulty_run):
    check_no_false_positive(faulty_run)


def test_counts_elsewhere_in_the_report_agree_with_the_faults(faulty_run):
    """Each detection is also counted where it happened: rejections by reason, transport FAIL,
    dead letters, refusals at send, absorbed duplicates, unexpected statuses."""
    check_counts_agree_with_faults(faulty_run)


async def test_a_revocation_published_during_the_run_is_honoured(kafka_bootstrap, pki_cache,
                                                                  run_id):
    """The CA revokes a sender's seal mid-run: documents sealed with it are returned (02
    revoked) once the verifiers have read the revocation topic; before, they were accepted."""
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",))
    province, dept = "000.00.00.H56", "000.00.01.H56"
    base = dataclasses.replace(sim.traffic.draft(), sender=province, recipients=(dept,),
                               sign_personal=True, sign_agency=True)
    await sim.start([base])
    try:
        async def send() -> None:
            document = sim.sender.compose(base, vietnam_today())
            await (await sim.sender.send(document, sim.sender.sign(document, base),
                                         time.monotonic_ns()))

        await send()
        await wait_for(lambda: sim.tracker.pending == 0, what="the first document accepted")
        assert sim.metrics.rejections == {}
        _, seal = sim.sender.credentials(province)
        await publish_revocations(sim.broker, sim.topics.revocations, [seal.issued.serial])
        await wait_for(lambda: seal.issued.serial in sim.pki.directory.revoked, timeout_s=15,
                       what="the verifiers to read the revocation")
        await send()
        await wait_for(lambda: sim.tracker.pending == 0, what="02 revoked")
        assert sim.metrics.rejections == {"revoked": 1}
        assert sim.revocations is not None
        assert sim.revocations.applied == 1
    finally:
        await sim.stop()


class TestCommandLine:
    def test_inject_runs_and_reports_each_kind(self, kafka_bootstrap, pki_cache, tmp_path):
        out = tmp_path / "r.json"
        result = run_cli(["simulate", "--bootstrap", kafka_bootstrap, "--documents", "120",
                          "--rate", "60", "--sig-alg", "ed25519", "--no-progress",
                          "--pki-cache", str(pki_cache), "--inject",
                          "bad-signature=10%,secret-document=5%", "--inject", "undecodable=0.05",
                          "--report", str(out)])
        assert result.returncode == 0, result.stderr
        assert "Injected faults" in result.stdout
        assert "false positives on clean traffic: none" in result.stdout
        report = json.loads(out.read_text())
        assert {k["kind"] for k in report["faults"]["kinds"]} == {
            "bad-signature", "secret-document", "undecodable"}
        assert report["faults"]["detection_share"] == 1.0

    @pytest.mark.parametrize(("spec", "message"), [
        ("nosuch=1%", "unknown fault kind 'nosuch'"),
        ("bad-signature", "expected KIND=RATE"),
        ("bad-signature=2x", "cannot read rate '2x'"),
        ("bad-signature=150%", "between 0 and 1"),
        ("all=10%", "add up to 140%"),
    ])
    def test_a_bad_inject_spec_is_one_line_and_exit_2(self, spec, message):
        result = run_cli(["simulate", "--documents", "1", "--inject", spec])
        assert result.returncode == 2
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_faults_section_matches_the_report_schema(faulty_run):
    from tests.metrics.test_report_schema import SCHEMA_PATH, _errors

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert _errors(validator, faulty_run) == []
    broken = json.loads(json.dumps(faulty_run))
    broken["faults"]["kinds"][0]["kind"] = "gremlins"
    assert _errors(validator, broken)
