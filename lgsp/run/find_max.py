"""``--find-max``: the highest rate the bus sustains, by trials, and why each trial passed or not.

A trial runs the configured load at one constant rate for ``--duration`` seconds (the first 20 %
warm-up, left out of latency; the series in ten or more intervals). It *sustains* the rate when:

* send → 01 p99 is within the latency bound (the ``p99(send_to_arrived)`` gate of ``--slo``, or
  250 ms),
* the senders kept the schedule: p99 of the schedule lag is within the same bound,
* the backlog did not grow: in the second half of the schedule after the warm-up (whole series
  intervals), 01s came back at ≥ 95 % of the deliveries due in it, less those a bus at the
  trial's p50 latency still has in flight; and nothing was lost or failed.

A trial whose second half is shorter than ``JUDGE_LATENCIES`` × its send→01 p99 cannot tell 01s
still in flight from a backlog: it is neither a pass nor a failure; the same rate is tried again
twice as long (and later trials keep that length), at most ``MAX_LENGTHENINGS`` times; then the
search stops and says the trials are too short.

The search doubles the rate from ``--rate`` while trials pass, then bisects between the last pass
and the first failure until they are within 10 % (at most ``MAX_TRIALS`` trials). Each trial runs
on a fresh embedded broker (or fresh topics), so no trial pays for the bytes of the one before.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from lgsp.errors import ConfigError, LgspError
from lgsp.metrics.slo import Slo
from lgsp.metrics.stages import Stage
from lgsp.run.config import SimulationConfig

log = structlog.get_logger(__name__)

DEFAULT_BOUND_MS = 250.0
DEFAULT_TRIAL_S = 20.0
MAX_TRIALS = 8
PRECISION = 1.10
BACKLOG_SHARE = 0.95
JUDGE_LATENCIES = 10
"""The backlog is judged on a second half at least this many send→01 p99s long."""
MAX_LENGTHENINGS = 3
"""A trial too short to judge is run again twice as long at most this many times in a search."""


def latency_bound_ms(gates: list[Slo]) -> float:
    """The p99(send_to_arrived) gate's threshold (ms), else the default bound."""
    for gate in gates:
        if gate.stage == Stage.SEND_TO_ARRIVED and gate.function == "p99":
            return gate.threshold
    return DEFAULT_BOUND_MS


@dataclass(frozen=True, slots=True)
class Judgement:
    """A trial's verdict: why it did not sustain its rate, or that it was too short to say."""

    reasons: list[str]
    """Why the rate was not sustained (empty: it was, unless ``too_short``)."""
    too_short: str | None = None
    """Why the trial cannot judge the backlog (then ``reasons`` holds no backlog reason)."""


def judge(report: dict[str, Any], rate: float, bound_ms: float) -> Judgement:
    """Whether a trial sustained ``rate``; a trial too short to judge its backlog says so."""
    reasons = []
    latency = report["latency"]
    arrived_latency = latency[Stage.SEND_TO_ARRIVED]
    p99 = arrived_latency["p99"]
    if arrived_latency["count"] == 0:
        reasons.append("no status 01 came back")
    elif p99 > bound_ms:
        reasons.append(f"send→01 p99 {p99:.0f} ms > {bound_ms:.0f} ms")
    lag = latency[Stage.SCHEDULE_LAG]["p99"]
    if lag > bound_ms:
        reasons.append(f"senders fell behind the schedule (lag p99 {lag:.0f} ms)")
    totals = report["totals"]
    failed = totals["lost"] + totals["send_failed"] + totals["undeliverable"]
    if failed:
        reasons.append(f"{failed} deliveries lost or failed")
    window = _backlog_window(report)
    if not window or arrived_latency["count"] == 0:
        return Judgement(reasons)
    window_s = sum(p["width_s"] for p in window)
    if window_s < JUDGE_LATENCIES * p99 / 1000:
        return Judgement(reasons, too_short=(
            f"its second half ({window_s:.1f} s) is shorter than {JUDGE_LATENCIES} × the "
            f"send→01 p99 ({p99:.0f} ms): the 01s still in flight would weigh as a backlog"))
    arrived = sum(p["arrived"] for p in window)
    if all("due" in p for p in window):
        due = sum(p["due"] for p in window)
    else:  # a report written before the series counted deliveries due
        due = sum(p["target"] for p in window) * totals["sent"] / max(totals["documents"], 1)
    # a bus keeping up at this latency still has p50 × the delivery rate in flight at the end
    in_flight = due / window_s * arrived_latency["p50"] / 1000
    if due and arrived < BACKLOG_SHARE * due - in_flight:
        reasons.append(f"backlog growing: 01s came back at {arrived / due:.0%} of the rate "
                       f"deliveries were due in the second half ({arrived} of {due:.0f}, "
                       f"{window_s:.1f} s)")
    return Judgement(reasons)


def _backlog_window(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The series points of the second half of the measured schedule (warm-up end → schedule
    end), whole intervals only; after the schedule no document is due, so the 01s that come
    back then would hide a backlog."""
    points = [p for p in report["series"]["points"] if not p["warmup"]]
    load = report.get("load") or {}
    if not points or not load.get("duration_s"):
        return points[len(points) // 2:-1] or points  # a report without its load shape
    end = load["duration_s"]
    start = points[0]["t_s"]
    middle = (start + end) / 2
    return [p for p in points if p["t_s"] >= middle - 1e-9
            and p["t_s"] + p["width_s"] <= end + 1e-9 and p["width_s"] > 0]


async def find_max_rate(new_run: Callable[[SimulationConfig], Any], config: SimulationConfig,
                        gates: list[Slo], *, stop: asyncio.Event,
                        progress: Callable[[str, dict[str, Any]], None],
                        max_trials: int = MAX_TRIALS) -> dict[str, Any]:
    """Search; return the report of the fastest sustained trial, with ``find_max`` added."""
    if config.shape != "constant":
        raise ConfigError("--find-max searches constant rates; drop --shape")
    bound = latency_bound_ms(gates)
    duration = config.duration_s or DEFAULT_TRIAL_S
    trials: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    low, high = 0.0, None
    rate = config.rate
    lengthened = 0
    undecided: str | None = None
    while len(trials) < max_trials and not stop.is_set():
        progress("trial", {"trial": len(trials) + 1, "rate": rate, "duration_s": duration})
        # a fifth of each trial is warm-up, and the series has ≥ 10 intervals so the backlog
        # check always has a second half to look at
        trial = dataclasses.replace(config, rate=rate, duration_s=duration, documents=None,
                                    warmup_s=max(config.warmup_s, round(duration * 0.2, 3)),
                                    run_id=None, interval_s=min(config.series_interval_s(),
                                                                duration / 10))
        report = await new_run(trial).run(stop)
        if report["run"].get("error"):  # a broken trial says nothing about sustainability
            error = LgspError(f"trial at {rate:g}/s failed: {report['run']['error']}")
            error.exit_code = int(report["run"].get("exit_code") or 1)
            raise error
        judgement = judge(report, rate, bound)
        reasons = judgement.reasons
        too_short = judgement.too_short if not reasons else None
        latency = report["latency"][Stage.SEND_TO_ARRIVED]
        trials.append({"rate": rate, "duration_s": duration,
                       "sustained": None if too_short else not reasons, "reasons": reasons,
                       "too_short": too_short,
                       "achieved_rate": report["totals"]["send_rate_per_s"],
                       "send_to_arrived_p99_ms": latency["p99"],
                       "schedule_lag_p99_ms": report["latency"][Stage.SCHEDULE_LAG]["p99"]})
        log.info("find_max_trial", **trials[-1])
        if too_short:  # not a failure: the same rate again, twice as long (every later trial too)
            if lengthened >= MAX_LENGTHENINGS:
                undecided = (f"a {duration:g} s trial at {rate:g}/s is too short to judge the "
                             f"backlog: {too_short}; run with a longer --duration")
                break
            lengthened += 1
            duration *= 2
            progress("lengthened", {"rate": rate, "duration_s": duration, "why": too_short})
            continue
        if reasons:
            high = rate
        else:
            low, best = rate, report
        if high is None:
            rate *= 2
        elif low == 0.0:
            rate = high / 2
        elif high / low <= PRECISION:
            break
        else:
            rate = (low + high) / 2
    if best is None:
        best = report
    converged = high is not None and low and high / low <= PRECISION
    decided = (f"{low:.3g} documents/s is the highest rate that sustained: send→01 p99 within "
               f"{bound:.0f} ms, senders on schedule, no growing backlog, nothing lost"
               + (f"; {high:.3g}/s did not" if high else
                  "; no trial failed (raise --rate to search higher)")
               + ("" if converged or high is None else
                  f" (stopped after {len(trials)} trials, {high / low - 1:.0%} apart)")
               if low else "no trial sustained its rate; lower --rate" if high else
               "no trial could be judged yet (each was too short to judge its backlog)")
    if undecided:
        decided = f"{decided}. The search stopped: {undecided}"
    best["find_max"] = {"max_rate": low, "latency_bound_ms": bound, "trial_duration_s": duration,
                        "trials": trials, "decided": decided}
    return best
