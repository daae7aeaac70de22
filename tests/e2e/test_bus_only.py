"""A bus-only run (``lgsp simulate --bus-only``) takes in what others submit: a recorded run
replayed into it (``lgsp replay --submissions-only --into-run``) is routed, verified against the
trust anchors it was given and answered, and its report counts every delivery of the capture as
seen — none foreign, none rejected; given another CA, the same traffic is refused and the verdict
says why. On the real broker, as a user types the commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.cli.test_cli import LGSP, SOURCE, run

pytestmark = pytest.mark.e2e

DOCUMENTS = 30
LISTEN_TIMEOUT_S = 120.0
END_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Recorded:
    capture: Path
    pki: Path
    deliveries: int


@pytest.fixture(scope="module")
def recorded(kafka_bootstrap: str, pki_cache: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A 30-document run, recorded, with its PKI written out."""
    directory = tmp_path_factory.mktemp("recorded")
    capture, pki = directory / "run.cap", directory / "pki"
    r = run(["simulate", "--bootstrap", kafka_bootstrap, "-n", str(DOCUMENTS), "-r", "40",
             "--sig-alg", "ed25519", "--pki-cache", str(pki_cache), "--pki-out", str(pki),
             "--record", str(capture), "--json", "--no-progress"])
    assert r.returncode == 0, r.stdout + r.stderr
    totals = json.loads(r.stdout)["totals"]
    assert totals["documents"] == DOCUMENTS
    assert totals["completed"] == totals["sent"]
    return Recorded(capture, pki, totals["sent"])


def _bus_only_then_replay(kafka_bootstrap: str, recorded: Recorded, run_id: str,
                          trust: list[str], cache: Path, tmp_path: Path
                          ) -> tuple[int, dict[str, Any], str]:
    """Start a bus-only run, wait (bounded) until it listens, replay the capture's submissions
    into it, and wait (bounded) for its end: (exit code, JSON report, stderr)."""
    path = os.pathsep.join(p for p in (str(SOURCE), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "CI": "true", "PYTHONPATH": path}
    out, err = tmp_path / "bus.json", tmp_path / "bus.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [*LGSP, "simulate", "--bootstrap", kafka_bootstrap, "--run-id", run_id,
             "--bus-only", *trust, "--idle", "5s", "--pki-cache", str(cache), "--json"],
            stdout=stdout, stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while f"bus-only run {run_id}" not in err.read_text():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"not listening: {err.read_text()}"
            time.sleep(0.2)
        replay = run(["replay", str(recorded.capture), "--bootstrap", kafka_bootstrap,
                      "--submissions-only", "--into-run", run_id])
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert f"sent {DOCUMENTS} of" in replay.stdout, replay.stdout
        code = process.wait(timeout=END_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return code, json.loads(out.read_text()), err.read_text()


@pytest.mark.parametrize("trust", ["pki", "capture"])
def test_a_replayed_run_is_seen_routed_and_completed_with_none_foreign(
        kafka_bootstrap, pki_cache, recorded, run_id, tmp_path, trust):
    """Every delivery of the capture arrives and completes in the bus-only run (the counts are
    the capture's), none rejected, none lost, no status foreign; send→01 is measured from each
    document's lgsp-sent (the replay's send); exit 0. Trusting --pki DIR or the capture's own
    anchors (--trust-capture) is the same."""
    given = (["--pki", str(recorded.pki)] if trust == "pki"
             else ["--trust-capture", str(recorded.capture)])
    code, report, stderr = _bus_only_then_replay(kafka_bootstrap, recorded, run_id, given,
                                                 pki_cache, tmp_path)
    assert code == 0, stderr
    seen, totals = report["bus_only"], report["totals"]
    assert seen["documents_seen"] == totals["documents"] == DOCUMENTS
    assert seen["deliveries_seen"] == totals["sent"] == recorded.deliveries
    assert totals["delivered"] == totals["completed"] == recorded.deliveries
    assert totals["rejected"] == totals["lost"] == totals["incomplete"] == 0
    assert report["rejections"] == {}
    assert seen["untrusted_rejections"] == {}
    assert report["foreign_statuses"] == {}
    assert seen["ended_by"] == "idle"
    assert seen["timed_by"] == {"lgsp_sent": DOCUMENTS}
    assert seen["statuses"]["01"] == seen["statuses"]["06"] == recorded.deliveries
    assert totals["send_to_arrived_ms"]["count"] == recorded.deliveries
    assert totals["send_to_arrived_ms"]["max"] < 30_000  # the replay's send, not the recording's
    assert sum(r["sent"] for r in report["routing"]["routes"]) == recorded.deliveries
    schema = json.loads((SOURCE / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)


def test_traffic_signed_under_another_ca_is_refused_and_the_verdict_says_why(
        kafka_bootstrap, recorded, run_id, tmp_path):
    """A bus-only run given a CA of other keys (another key cache) refuses every delivery of
    the capture with a trust reason (02 unknown_issuer), counts them as rejected — not foreign —
    and exits 1 naming the cause."""
    other_cache, other_pki = tmp_path / "other-keys", tmp_path / "other-pki"
    r = run(["simulate", "--bootstrap", kafka_bootstrap, "-n", "1", "--sig-alg", "ed25519",
             "--pki-cache", str(other_cache), "--pki-out", str(other_pki), "--json",
             "--no-progress"])
    assert r.returncode == 0, r.stdout + r.stderr
    code, report, stderr = _bus_only_then_replay(
        kafka_bootstrap, recorded, run_id, ["--pki", str(other_pki)], other_cache, tmp_path)
    assert code == 1, stderr
    seen, totals = report["bus_only"], report["totals"]
    assert seen["deliveries_seen"] == totals["sent"] == totals["rejected"] == recorded.deliveries
    assert sum(seen["untrusted_rejections"].values()) == recorded.deliveries
    assert set(seen["untrusted_rejections"]) <= {"unknown_certificate", "unknown_issuer"}
    assert report["foreign_statuses"] == {}
    assert totals["lost"] == 0
    assert (f"{recorded.deliveries} of {recorded.deliveries} deliveries were rejected because "
            "this run does not trust the senders' certificates") in stderr


def test_a_window_with_no_document_ends_on_duration_and_fails_saying_so(
        kafka_bootstrap, recorded, pki_cache, run_id):
    """--duration bounds the run; a bus-only run that saw nothing exits 1 and says where it
    listened (a replay aimed at the wrong run id is not a pass)."""
    r = run(["simulate", "--bootstrap", kafka_bootstrap, "--run-id", run_id, "--bus-only",
             "--trust-capture", str(recorded.capture), "--duration", "3s",
             "--pki-cache", str(pki_cache), "--json", "--no-progress"])
    assert r.returncode == 1, r.stderr
    seen = json.loads(r.stdout)["bus_only"]
    assert seen["ended_by"] == "duration"
    assert seen["documents_seen"] == 0
    assert r.stderr.strip().splitlines()[-1].startswith(
        f"lgsp: the bus-only run saw no document submitted to lgsp.{run_id}.<platform>.inbound")


def test_ctrl_c_ends_a_bus_only_run_with_its_report(kafka_bootstrap, recorded, pki_cache,
                                                    run_id, tmp_path):
    """Ctrl-C (SIGINT) while it listens: the report is written (ended by interrupted) and the
    exit code is 130."""
    path = os.pathsep.join(p for p in (str(SOURCE), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "CI": "true", "PYTHONPATH": path}
    report, err = tmp_path / "r.json", tmp_path / "err"
    with err.open("w") as stderr:
        process = subprocess.Popen(
            [*LGSP, "simulate", "--bootstrap", kafka_bootstrap, "--run-id", run_id,
             "--bus-only", "--trust-capture", str(recorded.capture), "--pki-cache",
             str(pki_cache), "--report", str(report)],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while f"bus-only run {run_id}" not in err.read_text():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"not listening: {err.read_text()}"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=END_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert code == 130, err.read_text()
    data = json.loads(report.read_text())
    assert data["bus_only"]["ended_by"] == "interrupted"
    assert data["run"]["stopped_early"] is True
