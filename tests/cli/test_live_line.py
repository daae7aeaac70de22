"""The live progress line says what its figures are (issue 17)."""

from __future__ import annotations

from typing import Any

from lgsp.cli.progress import live_line


def figures(**overrides: Any) -> dict[str, Any]:
    data = {"elapsed_s": 3.4, "achieved_rate": 40.0, "target_rate": 40.0, "sent": 120,
            "target": 120, "pending": 3, "p50_ms": 41.2, "p99_ms": 88.9, "errors": 0,
            "behind_ms": 0.0, "schedule_done": True, "in_warmup": False}
    data.update(overrides)
    return data


def test_once_the_schedule_is_over_the_rates_are_the_whole_schedules():
    assert live_line(figures()) == (
        "   3.4 s · rate 40/s over the schedule (target 40/s) · sent 120 of 120 due · "
        "in flight 3 · send→01 p50 41 ms p99 89 ms · errors 0 · behind 0 ms")


def test_while_it_runs_the_rates_are_the_last_seconds():
    line = live_line(figures(schedule_done=False, achieved_rate=39.0, sent=80, target=81))
    assert "rate 39/s (target 40/s) · sent 80 of 81 due" in line


def test_in_the_warm_up_latency_is_said_to_be_unmeasured_not_zero():
    line = live_line(figures(schedule_done=False, in_warmup=True, p50_ms=0.0, p99_ms=0.0))
    assert "send→01 not measured in the warm-up" in line
    assert "p99 0 ms" not in line
