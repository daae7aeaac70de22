"""The repeat harness (benchmarks/repeat_scenarios.py) and its CPU hog, as a user runs them.

The harness starts an embedded broker of its own for every run (like the outage tests, it cannot
share the session's broker: each run is a child process with a fresh broker), so the end-to-end
tests here go through the real broker the harness starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cpu_hog import cpu_hog
from benchmarks.repeat_scenarios import RunResult, render, summarise
from tests.e2e.helpers import processes_with
from tests.e2e.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "benchmarks.repeat_scenarios"]


def _harness(args: list[str], *, timeout_s: float, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HARNESS, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s, check=False, env=env)


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _until(condition: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def test_the_hog_keeps_a_process_per_core_busy_and_leaves_none():
    with cpu_hog() as hog:
        assert len(hog.pids) == os.cpu_count()
        assert all(_alive(pid) for pid in hog.pids)
        time.sleep(1.0)
    assert hog.cpu_s > 0.1, "the hog processes spun"
    assert hog.wall_s >= 1.0
    assert not any(_alive(pid) for pid in hog.pids), "every hog process killed on the way out"


def test_hog_processes_end_when_the_harness_is_killed(tmp_path):
    """SIGKILL gives the harness no chance to clean up: its hog processes notice their parent
    is gone and end by themselves."""
    pids_file = tmp_path / "pids"
    owner = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from pathlib import Path\n"
         "from benchmarks.cpu_hog import cpu_hog\n"
         "with cpu_hog() as hog:\n"
         "    Path(sys.argv[1]).write_text(' '.join(map(str, hog.pids)))\n"
         "    time.sleep(300)\n", str(pids_file)], cwd=ROOT)
    try:
        _until(lambda: pids_file.exists() and pids_file.read_text(), 30, "the hog to start")
        pids = [int(p) for p in pids_file.read_text().split()]
        assert all(_alive(pid) for pid in pids)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
    _until(lambda: not any(_alive(pid) for pid in pids), 10, "the orphaned hog to end")


def test_list_names_every_scenario():
    result = _harness(["--list"], timeout_s=60)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == [s.name for s in SCENARIOS]
    assert {line.split()[1] for line in result.stdout.splitlines()} == {
        "crash", "outage", "fault"}


@pytest.mark.parametrize(("args", "message"), [
    (["--runs", "0"], "--runs: must be more than 0"),
    (["--runs", "many"], "--runs: expected a number"),
    (["--scenario", "nosuch"], "invalid choice: 'nosuch'"),
    (["--hog", "maybe"], "invalid choice: 'maybe'"),
    (["--run-timeout", "-5"], "--run-timeout: must be more than 0"),
    (["--json", "/nonexistent-dir/r.json"], "--json: no directory /nonexistent-dir"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    result = _harness(args, timeout_s=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _result(name: str, **counts: int | str | None) -> RunResult:
    fields: dict[str, Any] = {"lost": 0, "incomplete": 0, "duplicate_deliveries": 0,
                    "duplicate_statuses": 0}
    fields.update(counts)
    return RunResult(scenario=name, hog=False, run=1, wall_s=10.0, **fields)


def test_lost_fails_the_verdict_only_where_the_scenario_promises_none():
    gone = [_result("outage-broker-gone", lost=297, incomplete=16)]
    rows = summarise(gone)
    assert [(r.lost, r.incomplete, r.bad) for r in rows] == [(297, 16, False)]
    assert "PASS: 1 runs, 0 lost, 0 incomplete, 0 failed" in render(rows, gone, [], "cmd")
    crash = [_result("crash-tracker", lost=2), _result("crash-tracker")]
    rows = summarise(crash)
    assert [(r.runs, r.lost, r.failures, r.bad) for r in rows] == [(2, 2, 0, True)]
    assert "FAIL: 2 runs, 2 lost, 0 incomplete, 0 failed" in render(rows, crash, [], "cmd")


def test_a_run_that_outlives_its_timeout_is_killed_whole_and_counted_failed(tmp_path):
    """--run-timeout 3: the run's child, its broker and workers are killed; exit 1, the reason in
    the table, and no process of the run is left."""
    marker = f"repeat-{time.time_ns()}"
    out = tmp_path / "r.json"
    result = _harness(["--runs", "1", "--hog", "off", "--scenario", "crash-tracker",
                       "--run-timeout", "3", "--json", str(out)], timeout_s=120,
                      env={**os.environ, "LGSP_TEST_MARKER": marker})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "crash-tracker hog off run 1: timed out after 3 s" in result.stdout, result.stdout
    assert "FAIL: 1 runs, 0 lost, 0 incomplete, 1 failed" in result.stdout, result.stdout
    report = json.loads(out.read_text())
    assert report["runs"][0]["failure"] == "timed out after 3 s"
    assert report["runs"][0]["lost"] is None, "no report: nothing counted"
    _until(lambda: processes_with(marker) == [], 15, "the killed run's processes to end")


@pytest.mark.e2e
def test_one_run_of_a_scenario_prints_its_row_and_passes(tmp_path):
    out = tmp_path / "r.json"
    result = _harness(["--runs", "1", "--hog", "off", "--scenario", "faults-every-kind",
                       "--json", str(out)], timeout_s=600)
    assert result.returncode == 0, result.stdout + result.stderr
    row = next(line.split() for line in result.stdout.splitlines()
               if line.startswith("faults-every-kind "))
    # scenario, hog, runs, lost, incomplete, deliveries / statuses absorbed, failures, wall
    assert row[1:5] == ["off", "1", "0", "0"], result.stdout
    assert row[8] == "0", result.stdout
    assert int(row[5]) > 0, "the injected duplicate deliveries were absorbed"
    assert "PASS: 1 runs, 0 lost, 0 incomplete, 0 failed" in result.stdout
    assert ("command: python -m benchmarks.repeat_scenarios --runs 1 --hog off --scenario "
            f"faults-every-kind --json {out}") in result.stdout
    report = json.loads(out.read_text())
    [run] = report["runs"]
    assert (run["scenario"], run["failure"], run["lost"], run["incomplete"]) == (
        "faults-every-kind", None, 0, 0)
    assert run["duplicate_deliveries"] == int(row[5])


def test_a_terminated_harness_leaves_no_run_and_no_hog_behind(tmp_path):
    """SIGTERM mid-run (hog on): the run's child, its broker and workers and the hog processes
    all end; exit 130 and the table of what was done so far."""
    marker = f"repeat-{time.time_ns()}"
    harness = subprocess.Popen([*HARNESS, "--runs", "1", "--hog", "on", "--scenario",
                                "crash-tracker"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "LGSP_TEST_MARKER": marker})
    try:
        # the harness, a hog process per core, the run's child and its broker
        _until(lambda: len(processes_with(marker)) >= 3 + (os.cpu_count() or 1), 60,
               "the run and the hog to start")
        harness.send_signal(signal.SIGTERM)
        stdout, _ = harness.communicate(timeout=60)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    assert harness.returncode == 130, stdout
    assert "CPU hog:" in stdout, stdout
    assert "INTERRUPTED: 0 runs" in stdout, stdout
    _until(lambda: processes_with(marker) == [], 15, "every process of the harness to end")
