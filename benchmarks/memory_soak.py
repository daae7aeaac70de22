"""Peak memory of a long run: the simulator's processes and the embedded broker, sampled.

Starts ``lgsp simulate`` (by default 30 minutes at 1,000 documents/s, 2 workers, embedded broker
with topic rotation) and samples the resident memory (VmRSS) of its whole process tree every 2 s:
the coordinator, the worker processes and the Tansu broker. Prints the peak of the sum and of each
kind, the RSS at a few points in time (growth shows up there), and the run's own figures.

    python benchmarks/memory_soak.py [--duration 1800] [--rate 1000] [--workers 2]
        [--sig-alg ed25519] [--broker-pid PID] [-- extra lgsp simulate options]

With ``-- --bootstrap HOST:PORT`` the run goes to that cluster; ``--broker-pid`` names the
broker's process (Apache Kafka from ``scripts/apache-kafka.sh``) so its memory is counted too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from process_cpu import children

SAMPLE_EVERY_S = 2.0


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children(current)
    return pids


def rss_kib(pid: int) -> tuple[str, int]:
    """(kind, resident KiB) of a process: broker, worker or coordinator."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone", 0
    rss = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)
    if "tansu" in cmdline or "kafka.Kafka" in cmdline:
        return "broker", rss
    if "multiprocessing" in cmdline:
        return "worker", rss
    return "coordinator", rss


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
        peak_total, peak, timeline = sample(proc, args.broker_pid)
    elapsed = time.monotonic() - began
    print(f"exit code {proc.returncode} after {elapsed:.0f} s (its log: {log}, "
          f"{log.stat().st_size // 1024} KiB)")
    report_summary(report, args, peak_total, peak, timeline)


def sample(proc: subprocess.Popen[bytes], broker_pid: int | None = None
           ) -> tuple[int, dict[str, int], list[tuple[float, int, dict[str, int]]]]:
    """RSS of the process tree every SAMPLE_EVERY_S until it exits: (peak, peak by kind,
    timeline)."""
    began = time.monotonic()
    peak_total = 0
    peak: dict[str, int] = {}
    timeline: list[tuple[float, int, dict[str, int]]] = []
    while proc.poll() is None:
        by_kind: dict[str, int] = {}
        for pid in tree(proc.pid) + ([broker_pid] if broker_pid else []):
            kind, rss = rss_kib(pid)
            kind = "broker" if pid == broker_pid else kind
            if kind != "gone":
                by_kind[kind] = by_kind.get(kind, 0) + rss
        total = sum(by_kind.values())
        peak_total = max(peak_total, total)
        for kind, rss in by_kind.items():
            peak[kind] = max(peak.get(kind, 0), rss)
        timeline.append((time.monotonic() - began, total, by_kind))
        time.sleep(SAMPLE_EVERY_S)
    return peak_total, peak, timeline


def report_summary(report: Path, args: argparse.Namespace, peak_total: int,
                   peak: dict[str, int], timeline: list[tuple[float, int, dict[str, int]]]
                   ) -> None:
    print(f"peak RSS, all processes together: {peak_total / 1024:.0f} MiB")
    for kind, rss in sorted(peak.items()):
        print(f"  peak {kind}: {rss / 1024:.0f} MiB")
    for fraction in (0.1, 0.25, 0.5, 0.75, 0.95):
        if timeline:
            t, total, by_kind = timeline[min(int(len(timeline) * fraction), len(timeline) - 1)]
            detail = ", ".join(f"{k} {v / 1024:.0f}" for k, v in sorted(by_kind.items()))
            print(f"  at {t:6.0f} s: {total / 1024:.0f} MiB ({detail})")
    if report.exists():
        data = json.loads(report.read_text())
        t = data["totals"]
        latency = data["latency"]["send_to_arrived"]
        print(f"run: {t['documents']} documents ({t['send_rate_per_s']}/s achieved of "
              f"{args.rate}/s), {t['sent']} deliveries, delivered {t['delivered']}, lost "
              f"{t['lost']}, incomplete {t['incomplete']}; send→01 p50 {latency['p50']} ms p99 "
              f"{latency['p99']} ms; schedule lag p99 {data['latency']['schedule_lag']['p99']} ms")
    print("reproduce: python " + " ".join(sys.argv))


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
