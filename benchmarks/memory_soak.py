"""Peak memory of a long run, and whether the run got slower as it went: its processes and the
broker, sampled.

Starts ``lgsp simulate`` (by default 30 minutes at 1,000 documents/s, 2 workers, embedded broker
with topic rotation) and samples the resident memory (VmRSS) and the CPU time of its whole process
tree every 2 s: the coordinator, the workers, the signing processes and the broker. Prints the
peak of the sum and of each kind, then the run in six windows: memory, cores per kind, the
worst send→01 p99 of an interval of the report's series, and — when signing processes run
(``--sign-ahead``) — the workers' CPU per unit of signing CPU. The signing processes do the same
work for every document, so their CPU at a constant rate tracks the host's speed: if the workers'
CPU grows and that ratio does not, the host got slower (a noisy neighbour), not lgsp-sim; if the
ratio grows, lgsp-sim did.

    python benchmarks/memory_soak.py [--duration 1800] [--rate 1000] [--workers 2]
        [--sig-alg ed25519] [--broker-pid PID] [-- extra lgsp simulate options]

With ``-- --bootstrap HOST:PORT`` the run goes to that cluster; ``--broker-pid`` names the
broker's process (Apache Kafka from ``scripts/apache-kafka.sh``) so its memory and CPU are counted
too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from process_cpu import children, cpu_seconds, kind_of

SAMPLE_EVERY_S = 2.0
WINDOWS = 6
KINDS = ("broker", "coordinator", "workers", "signers", "other")


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children(current)
    return pids


def rss_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in status.splitlines()
                 if line.startswith("VmRSS:")), 0)


@dataclass
class Sample:
    t_s: float
    rss_kib: dict[str, int]
    cpu_s: dict[str, float]
    """CPU seconds used so far by each kind (processes that ended keep what they had used)."""

    @property
    def total_kib(self) -> int:
        return sum(self.rss_kib.values())


@dataclass
class Sampler:
    """The process tree of ``pid`` (and the broker) every ``SAMPLE_EVERY_S``."""

    pid: int
    broker_pid: int | None
    samples: list[Sample] = field(default_factory=list)
    _kinds: dict[int, str] = field(default_factory=dict)
    _cpu: dict[int, float] = field(default_factory=dict)
    _began: float = field(default_factory=time.monotonic)

    def kind(self, pid: int) -> str:
        if pid not in self._kinds:
            self._kinds[pid] = "coordinator" if pid == self.pid else kind_of(pid, self.broker_pid)
        return self._kinds[pid]

    def sample(self) -> None:
        rss: dict[str, int] = {}
        for pid in tree(self.pid) + ([self.broker_pid] if self.broker_pid else []):
            resident, cpu = rss_kib(pid), cpu_seconds(pid)
            if resident is None or cpu is None:
                continue
            kind = self.kind(pid)
            rss[kind] = rss.get(kind, 0) + resident
            self._cpu[pid] = cpu
        cpu_by_kind: dict[str, float] = {}
        for pid, cpu in self._cpu.items():
            cpu_by_kind[self._kinds[pid]] = cpu_by_kind.get(self._kinds[pid], 0.0) + cpu
        self.samples.append(Sample(time.monotonic() - self._began, rss, cpu_by_kind))


def main(args: argparse.Namespace, extra: list[str]) -> None:
    report = Path(tempfile.mkdtemp()) / "soak.json"
    command = ["lgsp", "simulate", "--duration", str(args.duration), "--rate", str(args.rate),
               "--workers", str(args.workers), "--sig-alg", args.sig_alg, "--no-progress",
               "--report", str(report), *extra]
    print("running: " + " ".join(command), flush=True)
    began = time.monotonic()
    log = report.with_name("soak.log")
    with log.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL,  # noqa: S603 - our CLI
                                stderr=stderr)
        sampler = Sampler(proc.pid, args.broker_pid)
        while proc.poll() is None:
            sampler.sample()
            time.sleep(SAMPLE_EVERY_S)
    elapsed = time.monotonic() - began
    print(f"exit code {proc.returncode} after {elapsed:.0f} s (its log: {log}, "
          f"{log.stat().st_size // 1024} KiB)")
    data = json.loads(report.read_text()) if report.exists() else None
    print_memory(sampler.samples)
    print_windows(sampler.samples, data)
    if data is not None:
        t = data["totals"]
        latency = data["latency"]["send_to_arrived"]
        print(f"run: {t['documents']} documents ({t['send_rate_per_s']}/s achieved of "
              f"{args.rate}/s), {t['sent']} deliveries, delivered {t['delivered']}, lost "
              f"{t['lost']}, incomplete {t['incomplete']}; send→01 p50 {latency['p50']} ms p99 "
              f"{latency['p99']} ms; schedule lag p99 {data['latency']['schedule_lag']['p99']} ms")
    print("reproduce: python " + " ".join(sys.argv))


def print_memory(samples: list[Sample]) -> None:
    if not samples:
        return
    peak_total = max(sample.total_kib for sample in samples)
    print(f"peak RSS, all processes together: {peak_total / 1024:.0f} MiB")
    for kind in KINDS:
        peak = max(sample.rss_kib.get(kind, 0) for sample in samples)
        if peak:
            print(f"  peak {kind}: {peak / 1024:.0f} MiB")


def print_windows(samples: list[Sample], data: dict[str, Any] | None) -> None:
    """The run in ``WINDOWS`` equal windows: memory at the end, cores per kind, the documents
    sent, the worst send→01 p99 of an interval of the report's series (on the schedule's clock,
    which starts a few seconds after the processes) and the workers' CPU per unit of signing CPU."""
    if len(samples) < WINDOWS + 1:
        return
    points = data["series"]["points"] if data is not None else []
    schedule_s = max((p["t_s"] + p["width_s"] for p in points), default=0.0)
    span = samples[-1].t_s
    print(f"in {WINDOWS} windows (cores: CPU s / wall s; p99: the worst interval of the report's "
          "series; workers/signers: CPU ratio, flat unless lgsp-sim itself got costlier):")
    for k in range(WINDOWS):
        first = min(samples, key=lambda s: abs(s.t_s - span * k / WINDOWS))
        last = min(samples, key=lambda s: abs(s.t_s - span * (k + 1) / WINDOWS))
        wall = max(last.t_s - first.t_s, 1e-9)
        cores = {kind: (last.cpu_s.get(kind, 0.0) - first.cpu_s.get(kind, 0.0)) / wall
                 for kind in KINDS if kind in last.cpu_s}
        used = " · ".join(f"{kind} {value:.2f}" for kind, value in cores.items() if value >= 0.005)
        lo, hi = schedule_s * k / WINDOWS, schedule_s * (k + 1) / WINDOWS
        mine = [p for p in points if lo <= p["t_s"] < hi]
        width = sum(p["width_s"] for p in mine)
        rate = sum(p["sent"] for p in mine) / width if width else 0.0
        p99 = max((p["send_to_arrived_ms"]["p99"] for p in mine
                   if p["send_to_arrived_ms"]["count"]), default=0.0)
        ratio = (f" · workers/signers {cores['workers'] / cores['signers']:.2f}"
                 if cores.get("signers", 0.0) > 0.005 and "workers" in cores else "")
        print(f"  {first.t_s:5.0f}–{last.t_s:5.0f} s: {last.total_kib / 1024:5.0f} MiB · "
              f"{rate:6.1f} docs/s · p99 {p99:7.0f} ms · {used}{ratio}")


if __name__ == "__main__":
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sig-alg", default="ed25519")
    parser.add_argument("--broker-pid", type=int, default=None,
                        help="an external broker's process, counted as the broker")
    main(parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv), extra)
