"""A CPU hog to run beside a scenario: one busy process per core.

Each hog process spins in pure Python and checks every few milliseconds that its parent is still
the process that started it, so it ends by itself even when the harness is killed with SIGKILL;
otherwise ``cpu_hog()`` kills it on the way out, whatever ended the block.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_SPIN = """\
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(200_000):
        pass
"""
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Hog:
    """The hog's processes and, once it is stopped, the CPU time they got."""

    pids: list[int] = field(default_factory=list)
    cpu_s: float = 0.0
    """CPU seconds the hog processes used (user + system), read just before they were killed."""
    wall_s: float = 0.0

    @property
    def cores_busy(self) -> float:
        """Mean cores the hog kept busy: how much CPU it really took from the scenarios."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # fields 14 and 15 of stat(5)


@contextlib.contextmanager
def cpu_hog(processes: int | None = None) -> Iterator[Hog]:
    """``processes`` busy processes (default one per core) for the duration of the block."""
    count = processes or os.cpu_count() or 1
    hog = Hog()
    running: list[subprocess.Popen[bytes]] = []
    began = time.monotonic()
    try:
        running.extend(  # one at a time: those started before a failure are killed below
            subprocess.Popen(  # noqa: S603 - this interpreter, our own code
                [sys.executable, "-c", _SPIN, str(os.getpid())], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count))
        hog.pids = [p.pid for p in running]
        yield hog
    finally:
        hog.cpu_s = sum(_cpu_seconds(p.pid) for p in running)
        hog.wall_s = time.monotonic() - began
        for process in running:
            process.kill()
        for process in running:
            process.wait(timeout=10)
