"""``--find-max``: the highest rate the bus sustains, by trials, and why each trial passed or not.

A trial runs the configured load at one constant rate for ``--duration`` seconds (the first 20 %
warm-up, left out of latency; the series in ten or more intervals). It *sustains* the rate when:

* send → 01 p99 is within the latency bound (the ``p99(send_to_arrived)`` gate of ``--slo``, or
  250 ms),
* the senders kept the schedule: p99 of the schedule lag is within the same bound,
* the backlog did not grow: in the second half of the trial, 01s came back at ≥ 95 % of the rate
  deliveries were due, and nothing was lost or failed.

The search doubles the rate from ``--rate`` while trials pass, then bisects between the last pass
and the first failure until they are within 10 % (at most ``MAX_TRIALS`` trials). Each trial runs
on a fresh embedded broker (or fresh topics), so no trial pays for the bytes of the one before.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
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


def latency_bound_ms(gates: list[Slo]) -> float:
    """The p99(send_to_arrived) gate's threshold (ms), else the default bound."""
    for gate in gates:
        if gate.stage == Stage.SEND_TO_ARRIVED and gate.function == "p99":
            return gate.threshold
    return DEFAULT_BOUND_MS


def judge(report: dict[str, Any], rate: float, bound_ms: float) -> list[str]:
    """Why a trial did not sustain ``rate`` (empty: it did)."""
    reasons = []
    latency = report["latency"]
    p99 = latency[Stage.SEND_TO_ARRIVED]["p99"]
    if latency[Stage.SEND_TO_ARRIVED]["count"] == 0:
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
    points = [p for p in report["series"]["points"] if not p["warmup"]]
    due = report["totals"]["sent"] / max(report["totals"]["documents"], 1)  # deliveries per doc
    second_half = points[len(points) // 2:-1] or points  # the last interval is partial
    if second_half:
        arrived = sum(p["arrived"] for p in second_half)
        expected = sum(p["target"] for p in second_half) * due
        if expected and arrived < BACKLOG_SHARE * expected:
            reasons.append(f"backlog growing: 01s came back at {arrived / expected:.0%} of the "
                           "rate deliveries were due in the second half")
    return reasons


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
    while len(trials) < max_trials and not stop.is_set():
        progress("trial", {"trial": len(trials) + 1, "rate": rate, "duration_s": duration})
        # a fifth of each trial is warm-up, and the series has ≥ 10 intervals so the backlog
        # check always has a second half to look at
        trial = dataclasses.replace(config, rate=rate, duration_s=duration, documents=None,
                                    warmup_s=max(config.warmup_s, duration * 0.2), run_id=None,
                                    interval_s=min(config.interval_s, duration / 10))
        report = await new_run(trial).run(stop)
        if report["run"].get("error"):  # a broken trial says nothing about sustainability
            error = LgspError(f"trial at {rate:g}/s failed: {report['run']['error']}")
            error.exit_code = int(report["run"].get("exit_code") or 1)
            raise error
        reasons = judge(report, rate, bound)
        latency = report["latency"][Stage.SEND_TO_ARRIVED]
        trials.append({"rate": rate, "sustained": not reasons, "reasons": reasons,
                       "achieved_rate": report["totals"]["send_rate_per_s"],
                       "send_to_arrived_p99_ms": latency["p99"],
                       "schedule_lag_p99_ms": report["latency"][Stage.SCHEDULE_LAG]["p99"]})
        log.info("find_max_trial", **trials[-1])
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
    decided = (f"{low:.0f} documents/s is the highest rate that sustained: send→01 p99 within "
               f"{bound:.0f} ms, senders on schedule, no growing backlog, nothing lost"
               + (f"; {high:.0f}/s did not" if high else
                  "; no trial failed (raise --rate to search higher)")
               + ("" if converged or high is None else
                  f" (stopped after {len(trials)} trials, {high / low - 1:.0%} apart)")
               if low else "no trial sustained its rate; lower --rate")
    best["find_max"] = {"max_rate": low, "latency_bound_ms": bound, "trial_duration_s": duration,
                        "trials": trials, "decided": decided}
    return best
