"""The series interval follows the run's length (issue 17: a fixed 5 s gave a 20 s run four
points and a compressed workday three bars)."""

from __future__ import annotations

import math

import pytest

from lgsp.run import SimulationConfig


@pytest.mark.parametrize(("shape", "duration_s", "interval_s"), [
    ("constant", 3.0, 0.1),
    ("constant", 20.0, 1.0),
    ("workday", 20.0, 1.0),
    ("constant", 45.0, 2.0),
    ("constant", 60.0, 2.5),
    ("constant", 3600.0, 5.0),
])
def test_a_run_gets_at_least_20_round_intervals(shape, duration_s, interval_s):
    config = SimulationConfig(documents=None, shape=shape, duration_s=duration_s, rate=20.0)
    assert config.series_interval_s() == interval_s
    assert math.ceil(duration_s / interval_s) >= 20 or interval_s == 5.0
    assert config.to_json()["interval_s"] == interval_s  # the report echoes the one used


def test_an_interval_given_is_kept():
    config = SimulationConfig(documents=None, duration_s=20.0, interval_s=5.0)
    assert config.series_interval_s() == 5.0


def test_the_default_run_of_500_documents_at_20_per_s_gets_1_s():
    assert SimulationConfig().series_interval_s() == 1.0
