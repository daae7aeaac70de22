"""The max-rate search's verdict on one trial, and what it does with a trial too short to judge
(issue 17: a 3 s trial at 40/s was counted as a growing backlog while its p99 was 139 ms)."""

from __future__ import annotations

import asyncio
from typing import Any

from lgsp.metrics.slo import Slo
from lgsp.run import SimulationConfig, find_max_rate
from lgsp.run.find_max import judge

RATE = 40.0
FAN_OUT = 3


def trial_report(duration_s: float, *, p50_ms: float, p99_ms: float, keep_up: float = 1.0,
                 interval_s: float = 0.1, warmup_s: float | None = None) -> dict[str, Any]:
    """A trial at ``RATE``/s: deliveries due at RATE × FAN_OUT per second; 01s come back
    ``p50_ms`` later, at ``keep_up`` × that rate (below 1: a backlog grows)."""
    warmup_s = duration_s * 0.2 if warmup_s is None else warmup_s
    latency_s = p50_ms / 1000
    due_per_interval = RATE * FAN_OUT * interval_s
    points = []
    for i in range(round((duration_s + 1.0) / interval_s)):
        t_s = round(i * interval_s, 3)
        due = due_per_interval if t_s + interval_s <= duration_s + 1e-9 else 0
        arriving = 0.0
        if latency_s <= t_s < duration_s + latency_s:
            arriving = due_per_interval * keep_up
        points.append({"t_s": t_s, "width_s": interval_s, "warmup": t_s < warmup_s,
                       "target": due / FAN_OUT, "sent": due / FAN_OUT, "due": due,
                       "arrived": round(arriving)})
    documents = round(RATE * duration_s)
    return {"latency": {"send_to_arrived": {"count": 1000, "p50": p50_ms, "p99": p99_ms},
                        "schedule_lag": {"p99": 2.0}},
            "totals": {"lost": 0, "send_failed": 0, "undeliverable": 0,
                       "documents": documents, "sent": documents * FAN_OUT,
                       "send_rate_per_s": RATE},
            "series": {"points": points}, "load": {"duration_s": duration_s},
            "run": {}}


class TestJudge:
    def test_a_3s_trial_with_01s_in_flight_is_too_short_not_a_failure(self):
        """The issue's trial: p99 139 ms, a 1.2 s second half: 01s in flight are not a backlog."""
        verdict = judge(trial_report(3.0, p50_ms=90, p99_ms=139, keep_up=0.91), RATE, 300)
        assert verdict.reasons == []
        assert verdict.too_short is not None
        assert "139 ms" in verdict.too_short

    def test_a_long_enough_trial_that_keeps_up_sustains(self):
        verdict = judge(trial_report(20.0, p50_ms=90, p99_ms=139), RATE, 300)
        assert (verdict.reasons, verdict.too_short) == ([], None)

    def test_a_long_enough_trial_falling_behind_is_a_growing_backlog(self):
        verdict = judge(trial_report(20.0, p50_ms=90, p99_ms=139, keep_up=0.75), RATE, 300)
        assert verdict.too_short is None
        assert len(verdict.reasons) == 1
        assert verdict.reasons[0].startswith("backlog growing: 01s came back at 75% ")

    def test_a_latency_breach_is_a_failure_even_when_too_short(self):
        verdict = judge(trial_report(3.0, p50_ms=250, p99_ms=400), RATE, 300)
        assert verdict.reasons == ["send→01 p99 400 ms > 300 ms"]


class _Trials:
    """Stands in for a LoadRun (no broker): a trial's report depends only on its length."""

    def __init__(self, p99_ms: float) -> None:
        self.p99_ms = p99_ms
        self.ran: list[tuple[float, float]] = []

    def __call__(self, config: SimulationConfig) -> _Trials:
        self.config = config
        return self

    async def run(self, _stop: asyncio.Event) -> dict[str, Any]:
        duration = self.config.duration_s
        assert duration is not None
        self.ran.append((self.config.rate, duration))
        return trial_report(duration, p50_ms=self.p99_ms * 0.6, p99_ms=self.p99_ms,
                            keep_up=0.91 if duration < 6 else 1.0)


def search(trials: _Trials, *, max_trials: int, gate: str = "p99(send_to_arrived) < 300ms"
           ) -> dict[str, Any]:
    config = SimulationConfig(documents=None, duration_s=3.0, rate=RATE)
    return asyncio.run(find_max_rate(trials, config, [Slo.parse(gate)],
                                     stop=asyncio.Event(), progress=lambda *_: None,
                                     max_trials=max_trials))


class TestSearch:
    def test_a_too_short_trial_is_run_again_twice_as_long(self):
        trials = _Trials(p99_ms=139)
        found = search(trials, max_trials=3)["find_max"]
        assert trials.ran == [(40.0, 3.0), (40.0, 6.0), (80.0, 6.0)]
        first = found["trials"][0]
        assert (first["sustained"], first["reasons"]) == (None, [])
        assert first["too_short"]
        assert [t["sustained"] for t in found["trials"][1:]] == [True, True]
        assert found["max_rate"] == 80.0
        assert found["trial_duration_s"] == 6.0

    def test_a_search_that_stays_too_short_says_so_and_fails_no_rate(self):
        trials = _Trials(p99_ms=2000)  # 10 × p99 = 20 s: longer than any lengthening allowed
        found = search(trials, max_trials=8, gate="p99(send_to_arrived) < 3s")["find_max"]
        assert [d for _, d in trials.ran] == [3.0, 6.0, 12.0, 24.0]
        assert all(t["sustained"] is None for t in found["trials"])
        assert found["max_rate"] == 0.0
        assert "too short to judge the backlog" in found["decided"]
        assert "longer --duration" in found["decided"]
