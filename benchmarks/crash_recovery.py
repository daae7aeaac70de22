"""What a crash costs: a crash-tolerant run whose router, recipient and tracker processes are each
killed once with SIGKILL, against the same run without kills.

Runs ``lgsp simulate --bus-workers 1`` twice as a user would (embedded broker, ed25519 by
default): a baseline, then the same load with the router killed at ``--kill-at`` seconds after the
schedule starts, the recipient ``--kill-every`` seconds later, then the tracker. Prints per kill
how long the role was gone (kill → restarted and back on the schedule), what it recovered (the
recipients' read-back, the tracker's replay of the ledger and statuses: records and rate), then
both runs' delivery figures and the send→01 p99 ratio of the crash run to the baseline.

    python benchmarks/crash_recovery.py [--duration 45] [--rate 30] [--kill-at 12]
        [--kill-every 10] [--sig-alg ed25519]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROLES = ("route", "receive", "track")
PIDS = re.compile(r"(route|receive|track) 1/1 pid (\d+)")


class StderrLog:
    """The run's stderr, line by line, each with the monotonic time it was read."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, pattern: re.Pattern[str], after: float = 0.0) -> tuple[float, re.Match[str]]:
        for at, line in list(self.lines):
            found = pattern.search(line)
            if at >= after and found:
                return at, found
        raise LookupError(pattern.pattern)

    def wait_for(self, pattern: re.Pattern[str], timeout_s: float,
                 after: float = 0.0) -> tuple[float, re.Match[str]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                return self.first(pattern, after)
            except LookupError:
                time.sleep(0.05)
        raise TimeoutError(f"no line matching {pattern.pattern!r} within {timeout_s:.0f} s")

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for _at, line in self.lines:
            if line.startswith("{") and f'"{name}"' in line:
                event = json.loads(line)
                if event.get("event") == name:
                    found.append(event)
        return found


def run(args: argparse.Namespace, report: Path, *, kill: bool) -> tuple[dict[str, Any],
                                                                        list[dict[str, Any]],
                                                                        StderrLog]:
    command = ["lgsp", "simulate", "--bus-workers", "1", "--duration", str(args.duration),
               "--rate", str(args.rate), "--sig-alg", args.sig_alg, "--report", str(report),
               "--no-progress", "--log-level", "info", "--log-format", "json"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,  # noqa: S603 - our own CLI
                               stderr=subprocess.PIPE, text=True)
    log = StderrLog(process.stderr)
    kills: list[dict[str, Any]] = []
    try:
        began, _ = log.wait_for(PIDS, timeout_s=240)
        line = next(text for _at, text in log.lines if "pid" in text and "processes:" in text)
        pids = {role: int(pid) for role, pid in PIDS.findall(line)}
        if kill:
            for index, role in enumerate(ROLES):
                at = began + args.kill_at + index * args.kill_every
                time.sleep(max(at - time.monotonic(), 0))
                killed_at = time.monotonic()
                os.kill(pids[role], signal.SIGKILL)
                back_at, _ = log.wait_for(
                    re.compile(rf"{role} 1/1 process died .*restarted as pid (\d+)"),
                    timeout_s=120, after=killed_at)
                kills.append({"role": role, "at_s": round(killed_at - began, 1),
                              "gone_s": round(back_at - killed_at, 2)})
        process.wait(timeout=args.duration + 300)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode != 0:
        sys.exit(f"lgsp simulate exited {process.returncode}:\n"
                 + "\n".join(text for _at, text in log.lines[-20:]))
    return json.loads(report.read_text()), kills, log


def _seconds_between(first: dict[str, Any], second: dict[str, Any]) -> float:
    return (dt.datetime.fromisoformat(second["timestamp"])
            - dt.datetime.fromisoformat(first["timestamp"])).total_seconds()


def main(args: argparse.Namespace) -> None:
    print(f"lgsp-sim crash recovery · {os.cpu_count()} cores · --bus-workers 1 · "
          f"{args.rate:g} documents/s for {args.duration:g} s · {args.sig_alg}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        print("baseline run (no kills) ...", flush=True)
        baseline, _, _ = run(args, Path(tmp) / "baseline.json", kill=False)
        print("crash run (router, recipient, tracker each killed once) ...", flush=True)
        crashed, kills, log = run(args, Path(tmp) / "crash.json", kill=True)
    print()
    print(f"{'role':<8} {'killed at':>9} {'gone (kill → back on schedule)':>32}")
    for k in kills:
        print(f"{k['role']:<8} {k['at_s']:>8.1f}s {k['gone_s']:>31.2f}s")
    for event in log.events("recipient_statuses_recovered"):
        print(f"recipient read-back: {event['deliveries']} deliveries' statuses in "
              f"{event['took_s']:.2f} s ({event['unfinished']} lifecycles unfinished)")
    rebuilding, caught_up = log.events("tracker_rebuilding"), log.events("tracker_caught_up")
    for start, end in zip(rebuilding, caught_up, strict=False):
        took = _seconds_between(start, end)
        print(f"tracker replay: {end['replayed']} statuses (+ the ledger) in {took:.2f} s → "
              f"{end['replayed'] / took:,.0f} statuses/s; {end['pending']} deliveries open")
    print()
    print(f"{'run':<9} {'sent':>6} {'01':>6} {'06':>6} {'lost':>5} {'incomplete':>10} "
          f"{'send→01 p50':>12} {'p99':>9} {'max':>9}")
    for name, report in (("baseline", baseline), ("crash", crashed)):
        t = report["totals"]
        latency = t["send_to_arrived_ms"]
        print(f"{name:<9} {t['sent']:>6} {t['delivered']:>6} {t['completed']:>6} "
              f"{t['lost']:>5} {t['incomplete']:>10} {latency['p50']:>10.1f}ms "
              f"{latency['p99']:>7.1f}ms {latency['max']:>7.1f}ms")
    ratio = (crashed["totals"]["send_to_arrived_ms"]["p99"]
             / baseline["totals"]["send_to_arrived_ms"]["p99"])
    print(f"send→01 p99, crash run / baseline: {ratio:.2f}")
    print("reproduce: python " + " ".join(sys.argv))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=45.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--kill-at", type=float, default=12.0)
    parser.add_argument("--kill-every", type=float, default=10.0)
    parser.add_argument("--sig-alg", default="ed25519")
    main(parser.parse_args())
