"""Durations with units on every time option, as k6 and Gatling users type them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lgsp.cli.durations import parse_seconds


class TestParseSeconds:
    @pytest.mark.parametrize(("text", "seconds"), [
        pytest.param("10", 10.0, id="plain-number-is-seconds"),
        pytest.param("0.5", 0.5, id="fraction"),
        pytest.param("10s", 10.0, id="seconds"),
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("2m", 120.0, id="minutes"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("1m30s", 90.0, id="compound"),
        pytest.param("1.5M", 90.0, id="upper-case-unit"),
        pytest.param("-5s", -5.0, id="negative-is-left-to-the-range-check"),
    ])
    def test_accepted_forms(self, text, seconds):
        assert parse_seconds(text) == pytest.approx(seconds)

    @pytest.mark.parametrize("text", [
        pytest.param("ten", id="word"), pytest.param("10x", id="unknown-unit"),
        pytest.param("s", id="unit-alone"), pytest.param("", id="empty"),
        pytest.param("inf", id="infinite"), pytest.param("10 seconds", id="unit-spelt-out"),
    ])
    def test_refused_forms_name_the_accepted_ones(self, text):
        with pytest.raises(ValueError, match=r"give e\.g\. 10s, 2m, 1h, 250ms or 1m30s"):
            parse_seconds(text)


def _simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lgsp", "simulate", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CI": "true"}, check=False)


@pytest.mark.parametrize(("duration", "warmup", "seconds"), [
    pytest.param("10s", "10", 10, id="seconds-vs-plain"),
    pytest.param("2m", "120s", 120, id="minutes-vs-seconds"),
    pytest.param("1h", "60m", 3600, id="hours-vs-minutes"),
    pytest.param("1500ms", "1.5", 1.5, id="milliseconds-vs-plain"),
])
def test_duration_and_warmup_read_the_same_time_in_any_unit(duration, warmup, seconds):
    """--duration and --warmup given as the same time in two units: the run is refused before
    it starts because the warm-up is not shorter than the schedule, which names both in s."""
    r = _simulate("--duration", duration, "--warmup", warmup)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"lgsp: error: --warmup {seconds:g} s is not shorter than the "
                                f"{seconds:g} s schedule: no document would be measured")


def test_every_time_option_says_its_units_in_help():
    r = _simulate("--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.replace("│", " ").split())
    for option in ("--duration", "--warmup", "--ack-timeout", "--step-delay", "--intake-delay",
                   "--broker-timeout", "--settle-timeout", "--rotate-topics",
                   "--external-timeout", "--idle"):
        assert option in text
    assert text.count("10s, 2m, 1h, 250ms or 1m30s") == 10, text
