"""Every crash, outage and fault scenario N times, with and without a CPU hog beside it.

Run from the project root (``-m``, so the scenarios and ``lgsp`` are this checkout's):

    python -m benchmarks.repeat_scenarios [--runs 20] [--hog off|on|both]
        [--scenario NAME ...] [--run-timeout 900] [--json FILE] [--logs DIR] [--list]

The scenarios are the e2e tests' own drivers and checks (``tests/e2e/scenarios.py``). Each run
is one play in a child process of its own, on a fresh embedded broker (behind a cuttable proxy
for the outages), with a fresh PKI cache and run id; a child that outlives ``--run-timeout`` is
killed with its process group. From each run's own report: lost, incomplete, duplicates absorbed
(deliveries the recipients took in twice and absorbed / statuses the tracker got twice and
absorbed, injected duplicate deliveries included) and whether it failed: the run raised, a check
of the scenario failed, or the child ended without a result. ``--hog on`` runs one busy process
per core beside the runs (``benchmarks/cpu_hog.py``), killed when its block ends.

Prints a line per run, then per scenario and hog mode: runs, lost, incomplete, duplicates
absorbed, failures, wall time per run (median / max), each failure's reason, and the command.
Exit status 1 when a run failed or lost or left incomplete a delivery in a scenario that promises
neither, 130 when interrupted, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from benchmarks.cpu_hog import Hog, cpu_hog
from lgsp.broker.embedded import EmbeddedBroker
from tests.e2e.scenarios import SCENARIOS, Ground, Scenario, cuttable_broker, scenario

ROOT = Path(__file__).resolve().parents[1]
HOG_MODES = {"off": (False,), "on": (True,), "both": (False, True)}
DEFAULT_RUNS = 20
DEFAULT_RUN_TIMEOUT_S = 900.0
LOG_TAIL_LINES = 12


@dataclass(slots=True, kw_only=True)
class RunResult:
    """One play of one scenario, as the parent saw it."""

    scenario: str
    hog: bool
    run: int
    wall_s: float
    """Child start → child end: interpreter and broker start-up included."""
    lost: int | None = None
    incomplete: int | None = None
    duplicate_deliveries: int | None = None
    duplicate_statuses: int | None = None
    failure: str | None = None
    """Why the run failed (raised, a check, timed out, no result); None when it passed."""
    log: str = ""
    """The child's output (kept with ``--logs``)."""


# ---- the child: one play ------------------------------------------------------------------------
@contextlib.contextmanager
def _ground(chosen: Scenario) -> Iterator[Ground]:
    """A fresh broker for one play: behind a cuttable proxy when the scenario cuts the network."""
    if chosen.cuttable:
        with tempfile.TemporaryDirectory(prefix="lgsp-repeat-broker-") as state, \
                cuttable_broker(Path(state)) as (_address, proxy):
            yield Ground(bootstrap=proxy.address, proxy=proxy)
        return
    broker = EmbeddedBroker()
    broker.start_sync()
    try:
        yield Ground(bootstrap=broker.bootstrap)
    finally:
        broker.stop()


def _counts(report: dict[str, Any]) -> dict[str, int]:
    totals, statuses = report["totals"], report["unexpected_statuses"]
    return {"lost": totals["lost"], "incomplete": totals["incomplete"],
            "duplicate_deliveries": totals["duplicates_absorbed"],
            "duplicate_statuses": (statuses.get("duplicate", 0)
                                   + statuses.get("unknown_or_finished", 0))}


def _where(exc: BaseException) -> str:
    """The failing line (this harness does not rewrite asserts, so a bare one has no message)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    message = str(exc).splitlines()[0] if str(exc) else ""
    return (f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno} "
            f"`{frame.line}`" + (f": {message}" if message else ""))


def play_once(name: str, result: Path) -> None:
    """Play scenario ``name`` once and write what happened to ``result`` (JSON)."""
    chosen = scenario(name)
    row: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lgsp-repeat-pki-") as pki, _ground(chosen) as ground:
        try:
            outcome = chosen.play(ground, Path(pki), f"r{uuid.uuid4().hex[:10]}")
        except Exception as exc:  # noqa: BLE001 - a run that raised is a counted failure
            row["failure"] = f"raised {_where(exc)}"
        else:
            row.update(_counts(outcome.report))
            try:
                chosen.check(outcome)
            except AssertionError as exc:
                row["failure"] = f"check failed: {_where(exc)}"
    result.write_text(json.dumps(row))


# ---- the parent: runs, hog, table ---------------------------------------------------------------
def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return "\n".join("      " + line for line in lines)


def run_child(name: str, *, hog: bool, index: int, timeout_s: float, workdir: Path) -> RunResult:
    """One play in a child process (its own session, killed whole on timeout or interrupt)."""
    stem = f"{name}-{'hog' if hog else 'quiet'}-{index}"
    result, log = workdir / f"{stem}.json", workdir / f"{stem}.log"
    began = time.monotonic()
    failure: str | None = None
    with log.open("wb") as out:
        child = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "benchmarks.repeat_scenarios", "--play", name,
             "--result", str(result)], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
            failure = f"timed out after {timeout_s:.0f} s"
        finally:
            _kill_group(child.pid)  # whatever it left behind (its worker processes)
            child.wait()
    wall_s = time.monotonic() - began
    if failure is None and not result.exists():
        failure = f"the child exited {code} without a result:\n{_tail(log)}"
    row = json.loads(result.read_text()) if result.exists() else {}
    if failure is not None:
        row["failure"] = failure
    return RunResult(scenario=name, hog=hog, run=index, wall_s=round(wall_s, 1), log=str(log),
                     **row)


def _sum(values: list[int | None]) -> int:
    return sum(v for v in values if v is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """The runs of one scenario with one hog mode, summed."""

    scenario: str
    hog: bool
    runs: int
    lost: int
    incomplete: int
    duplicate_deliveries: int
    duplicate_statuses: int
    failures: int
    wall_median_s: float
    wall_max_s: float
    lossless: bool

    @property
    def bad(self) -> bool:
        return self.failures > 0 or (self.lossless and self.lost + self.incomplete > 0)


def summarise(results: list[RunResult]) -> list[Row]:
    rows = []
    for chosen in SCENARIOS:
        for hog in (False, True):
            mine = [r for r in results if r.scenario == chosen.name and r.hog == hog]
            if not mine:
                continue
            walls = [r.wall_s for r in mine]
            rows.append(Row(
                scenario=chosen.name, hog=hog, runs=len(mine),
                lost=_sum([r.lost for r in mine]), incomplete=_sum([r.incomplete for r in mine]),
                duplicate_deliveries=_sum([r.duplicate_deliveries for r in mine]),
                duplicate_statuses=_sum([r.duplicate_statuses for r in mine]),
                failures=sum(r.failure is not None for r in mine),
                wall_median_s=round(statistics.median(walls), 1), wall_max_s=max(walls),
                lossless=chosen.lossless))
    return rows


def render(rows: list[Row], results: list[RunResult], hogs: list[Hog], command: str, *,
           interrupted: bool = False) -> str:
    lines = [f"{'scenario':<24} {'hog':<4} {'runs':>4} {'lost':>6} {'incomplete':>10} "
             f"{'dupes absorbed (deliv/status)':>30} {'failures':>8} "
             f"{'wall s (median/max)':>20}"]
    for row in rows:
        star = "" if row.lossless else "*"
        lines.append(
            f"{row.scenario:<24} {'on' if row.hog else 'off':<4} {row.runs:>4} "
            f"{str(row.lost) + star:>6} {str(row.incomplete) + star:>10} "
            f"{f'{row.duplicate_deliveries} / {row.duplicate_statuses}':>30} "
            f"{row.failures:>8} {f'{row.wall_median_s:.1f} / {row.wall_max_s:.1f}':>20}")
    if any(not row.lossless for row in rows):
        lines.append("* not held against the verdict: the broker never comes back; the check "
                     "asserts exit 4 and that only confirmed deliveries count")
    lines.extend(f"CPU hog: {len(hog.pids)} busy processes, {hog.cpu_s:.0f} CPU-s over "
                 f"{hog.wall_s:.0f} s (on average {hog.cores_busy:.2f} of {os.cpu_count()} "
                 "cores taken from the runs)" for hog in hogs)
    failed = [r for r in results if r.failure is not None]
    if failed:
        lines.append("failures:")
        lines.extend(f"  {r.scenario} hog {'on' if r.hog else 'off'} run {r.run}: {r.failure}"
                     + (f" (log: {r.log})" if Path(r.log).exists() else "") for r in failed)
    verdict = ("INTERRUPTED" if interrupted else "FAIL" if any(row.bad for row in rows)
               else "PASS")
    runs = sum(row.runs for row in rows)
    lost = sum(row.lost for row in rows if row.lossless)
    incomplete = sum(row.incomplete for row in rows if row.lossless)
    lines.append(f"{verdict}: {runs} runs, {lost} lost, {incomplete} incomplete, "
                 f"{len(failed)} failed")
    lines.append(f"command: {command}")
    return "\n".join(lines)


def campaign(chosen: list[Scenario], *, runs: int, hog_modes: tuple[bool, ...],
             timeout_s: float, workdir: Path) -> tuple[list[RunResult], list[Hog], bool]:
    """Every run of every chosen scenario in every hog mode: (results, hogs, interrupted)."""
    results: list[RunResult] = []
    hogs: list[Hog] = []
    total = len(chosen) * runs * len(hog_modes)
    try:
        for hog in hog_modes:
            with cpu_hog() if hog else contextlib.nullcontext() as hogging:
                if hogging is not None:
                    hogs.append(hogging)
                for each in chosen:
                    for index in range(1, runs + 1):
                        result = run_child(each.name, hog=hog, index=index, timeout_s=timeout_s,
                                           workdir=workdir)
                        results.append(result)
                        print(f"[{len(results)}/{total}] {each.name} hog {'on' if hog else 'off'} "
                              f"run {index}/{runs}: {result.wall_s:.1f} s · lost {result.lost} · "
                              f"incomplete {result.incomplete} · dupes absorbed "
                              f"{result.duplicate_deliveries}/{result.duplicate_statuses} · "
                              + ("ok" if result.failure is None
                                 else "FAILED: " + result.failure.splitlines()[0]), flush=True)
    except KeyboardInterrupt:
        return results, hogs, True
    return results, hogs, False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad arguments: one line on stderr, exit 2."""
        print(f"repeat_scenarios: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    names = [s.name for s in SCENARIOS]
    p = _Parser(prog="python -m benchmarks.repeat_scenarios",
                description=(__doc__ or "").splitlines()[0])
    p.add_argument("--runs", type=_positive(int), default=DEFAULT_RUNS,
                   help=f"runs of each scenario in each hog mode (default {DEFAULT_RUNS})")
    p.add_argument("--hog", choices=list(HOG_MODES), default="both",
                   help="a busy process per core beside the runs: off, on, or both (default)")
    p.add_argument("--scenario", action="append", choices=names, metavar="NAME",
                   help="only this scenario (repeatable; --list names them)")
    p.add_argument("--run-timeout", type=_positive(float), default=DEFAULT_RUN_TIMEOUT_S,
                   help=f"seconds a run may take before it is killed and counted failed "
                        f"(default {DEFAULT_RUN_TIMEOUT_S:.0f})")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every run as JSON")
    p.add_argument("--logs", type=Path, metavar="DIR",
                   help="keep each run's output (its warnings: lost, incomplete) in DIR")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--play", choices=names, help=argparse.SUPPRESS)  # the child's job
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return p


def _interrupt(_signal: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.play:
        play_once(args.play, args.result)
        return 0
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:<24} {s.kind.value:<7} {s.summary}")
        return 0
    if args.json is not None and not args.json.parent.is_dir():
        parser().error(f"--json: no directory {args.json.parent}")
    if args.logs is not None:
        try:
            args.logs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            parser().error(f"--logs: cannot create {args.logs}: {exc.strerror}")
    # SIGTERM unwinds like Ctrl-C: the running child and the hog are killed on the way out
    signal.signal(signal.SIGTERM, _interrupt)
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    command = "python -m benchmarks.repeat_scenarios " + " ".join(
        sys.argv[1:] if argv is None else argv)
    print(f"lgsp-sim repeat harness · {os.cpu_count()} cores · Python "
          f"{platform.python_version()} · embedded broker per run · {args.runs} run(s) of "
          f"{len(chosen)} scenario(s) · hog {args.hog}", flush=True)
    with (contextlib.nullcontext(str(args.logs)) if args.logs is not None
          else tempfile.TemporaryDirectory(prefix="lgsp-repeat-")) as workdir:
        results, hogs, interrupted = campaign(chosen, runs=args.runs,
                                              hog_modes=HOG_MODES[args.hog],
                                              timeout_s=args.run_timeout, workdir=Path(workdir))
    rows = summarise(results)
    print()
    print(render(rows, results, hogs, command.strip(), interrupted=interrupted))
    if args.json is not None:
        args.json.write_text(json.dumps({
            "command": command.strip(), "cores": os.cpu_count(), "interrupted": interrupted,
            "scenarios": [{**asdict(row), "bad": row.bad} for row in rows],
            "runs": [asdict(r) for r in results],
            "hogs": [{"processes": len(h.pids), "cpu_s": round(h.cpu_s, 1),
                      "wall_s": round(h.wall_s, 1)} for h in hogs]}, indent=2))
        print(f"JSON written to {args.json}")
    if interrupted:
        return 130
    return 1 if any(row.bad for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
