"""Building a simulation on the test broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from lgsp.config import BrokerConfig
from lgsp.run import Simulation, SimulationConfig
from lgsp.signing import SignatureAlgorithm


def simulation(bootstrap: str, pki_cache: Path, run_id: str, **overrides: Any) -> Simulation:
    settings: dict[str, Any] = {"run_id": run_id, "pki_cache": pki_cache,
                                "signature_algorithm": SignatureAlgorithm.ED25519,
                                "ack_timeout_s": 30.0, "settle_timeout_s": 60.0}
    settings.update(overrides)
    return Simulation(SimulationConfig(**settings), BrokerConfig(bootstrap=bootstrap))


def interrupted_run(args: list[str], report: Path) -> tuple[int, dict[str, Any], list[int]]:
    """``lgsp simulate ARGS --report REPORT``, Ctrl-C once the schedule runs (a progress line):
    (exit code, the report, pids of processes of that run still alive afterwards)."""
    marker = uuid.uuid4().hex
    with subprocess.Popen(
            ["lgsp", "simulate", *args, "--report", str(report), "--log-format", "json",
             "--log-level", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "CI": "true", "LGSP_TEST_MARKER": marker}) as proc:
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        for line in proc.stderr:
            if ("lgsp:" in line and "due" in line) or time.monotonic() > deadline:
                break  # a progress line: the schedule is running
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=90)
        finally:
            proc.kill()
    return proc.returncode, json.loads(report.read_text()), processes_with(marker)


def processes_with(marker: str) -> list[int]:
    """Pids whose environment holds ``marker`` (a run's processes, children included)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found
