"""An outside party of a run (a reference service or router) as a process of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 20.0


@contextlib.contextmanager
def outside_process(module: str, args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m module ARGS`` in a process group of its own, output to ``log``, stopped with
    SIGTERM (SIGKILL for the whole group after ``STOP_TIMEOUT_S``): the service runs as a child
    of its supervisor, which a SIGKILL alone would leave behind."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True)
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            with contextlib.suppress(ProcessLookupError):  # a child still finishing its stop
                os.killpg(process.pid, signal.SIGKILL)
