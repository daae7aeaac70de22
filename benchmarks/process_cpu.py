"""Who used the CPU during a run: this process and every descendant, grouped by what it is
(broker, workers, signing processes, the coordinator), sampled from /proc so processes that are
born and end during the run are counted (up to the last sample before they end).

    with ProcessCpu(broker_pid=None) as cpu:
        ... run ...
    print(cpu.summary())     # broker 1.02 · workers 0.51 · signers 0.10 · coordinator 0.01 cores
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType

TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY_S = 0.25


def children(pid: int) -> list[int]:
    """The pids of a process's children (every thread's)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def kind_of(pid: int, broker_pid: int | None) -> str:
    """broker, signers, workers, coordinator (this process) or other."""
    if pid == broker_pid:
        return "broker"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "other"
    if "tansu" in cmdline or "kafka.Kafka" in cmdline:
        return "broker"
    if "lgsp.signing.signer" in cmdline:
        return "signers"
    if "multiprocessing.spawn" in cmdline:
        return "workers"
    if "resource_tracker" in cmdline:
        return "other"
    return "coordinator" if pid == os.getpid() else "other"


class ProcessCpu:
    """CPU seconds per kind of process over a ``with`` block, in cores of wall time."""

    def __init__(self, broker_pid: int | None = None) -> None:
        self.broker_pid = broker_pid
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, daemon=True)
        self.wall_s = 0.0
        self._started = 0.0

    def _sample(self, *, first: bool = False) -> None:
        pids = [os.getpid()] + ([self.broker_pid] if self.broker_pid else [])
        seen: set[int] = set()
        while pids:
            pid = pids.pop()
            if pid in seen:
                continue
            seen.add(pid)
            pids += children(pid)
            cpu = cpu_seconds(pid)
            if cpu is None:
                continue
            if pid not in self._kinds:
                self._kinds[pid] = kind_of(pid, self.broker_pid)
                self._first[pid] = cpu if first else 0.0  # born during the block: all of it
            self._last[pid] = cpu

    def _sample_forever(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def __enter__(self) -> ProcessCpu:
        self._sample(first=True)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.wall_s = time.monotonic() - self._started

    def cores(self) -> dict[str, float]:
        """Cores used on average per kind (CPU seconds / wall seconds)."""
        totals: dict[str, float] = {}
        for pid, kind in self._kinds.items():
            totals[kind] = totals.get(kind, 0.0) + self._last[pid] - self._first[pid]
        return {kind: cpu / max(self.wall_s, 1e-9) for kind, cpu in sorted(totals.items())}

    def summary(self) -> str:
        cores = self.cores()
        order = ["broker", "workers", "signers", "coordinator", "other"]
        return " · ".join(f"{kind} {cores[kind]:.2f}" for kind in order if kind in cores) \
            + f" cores (of {os.cpu_count()})"
