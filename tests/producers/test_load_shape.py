"""Load shapes: counts are the integral of the rate, intended times are exact, specs are checked."""

from __future__ import annotations

import bisect
import itertools
import json
import math
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from lgsp.errors import ConfigError
from producers.load_shape import LoadShape

NS = 1_000_000_000


def exact_integral(shape: LoadShape) -> Fraction:
    """∫r over the shape from its segments (trapezoids are exact for linear pieces)."""
    return sum((Fraction(s.from_rate + s.to_rate) / 2 * (Fraction(s.end_s) - Fraction(s.start_s))
                for s in shape.segments), Fraction(0))


SHAPES = [
    ("constant", 20.0, 25.0),
    ("constant", 3.0, 1.5),
    ("ramp", 100.0, 10.0),
    ("ramp:10..1000", 1.0, 60.0),
    ("ramp:1000..0", 1.0, 30.0),
    ("steps:100x30s,200x30s,400x1m", 1.0, None),
    ("steps:10x1s,0x1s,10x1s", 1.0, None),
    ("workday", 50.0, 1440.0),
    ("workday:week", 50.0, 600.0),
]


class TestEveryShape:
    @pytest.mark.parametrize(("spec", "rate", "duration"), SHAPES)
    def test_count_is_the_floor_of_the_integral(self, spec, rate, duration):
        shape = LoadShape.parse(spec, rate=rate, duration_s=duration)
        offsets = list(shape.offsets_ns())
        assert len(offsets) == shape.expected_count() == math.floor(exact_integral(shape))
        assert shape.expected_count() == math.floor(shape.integral())

    @pytest.mark.parametrize(("spec", "rate", "duration"), SHAPES)
    def test_offsets_are_monotonic_and_inside_the_duration(self, spec, rate, duration):
        shape = LoadShape.parse(spec, rate=rate, duration_s=duration)
        offsets = list(shape.offsets_ns())
        assert offsets[0] >= 0
        assert offsets[-1] <= round(shape.duration_s * NS)
        assert all(a <= b for a, b in itertools.pairwise(offsets))

    @pytest.mark.parametrize(("spec", "rate", "duration"), SHAPES)
    def test_document_k_is_where_the_integral_reaches_k(self, spec, rate, duration):
        shape = LoadShape.parse(spec, rate=rate, duration_s=duration)
        for k, offset in enumerate(shape.offsets_ns()):
            assert shape.integral(offset / NS) == pytest.approx(k, abs=1e-5)

    @pytest.mark.parametrize(("spec", "rate", "duration"), SHAPES)
    def test_due_by_counts_the_documents_intended_by_then(self, spec, rate, duration):
        """What the live line calls "due" is what a sender on schedule has sent by then: never
        one fewer (the "sent 189 of 188 due" of issue 17), never one more."""
        shape = LoadShape.parse(spec, rate=rate, duration_s=duration)
        offsets = list(shape.offsets_ns())
        step = shape.duration_s / 997  # not a divisor of any document's time
        for i in range(-1, 1000):
            t_s = i * step
            intended = bisect.bisect_right(offsets, round(t_s * NS)) if t_s >= 0 else 0
            assert shape.due_by(t_s) == intended, t_s
        assert shape.due_by(shape.duration_s + 1, limit=7) == min(7, len(offsets))

    @pytest.mark.parametrize(("spec", "rate", "duration"), SHAPES)
    def test_describe_is_json(self, spec, rate, duration):
        shape = LoadShape.parse(spec, rate=rate, duration_s=duration)
        described = json.loads(json.dumps(shape.describe()))
        assert described["shape"] == spec.partition(":")[0]
        assert described["spec"] == spec
        assert described["expected_documents"] == shape.expected_count()
        assert described["duration_s"] == pytest.approx(shape.duration_s)
        assert described["peak_rate"] == pytest.approx(shape.peak_rate)
        assert described["mean_rate"] == pytest.approx(float(exact_integral(shape))
                                                       / shape.duration_s, rel=1e-6)
        assert described["segments_total"] == len(shape.segments) == len(described["segments"])
        assert described["segments"][0]["start_s"] == 0
        assert described["segments"][-1]["end_s"] == pytest.approx(shape.duration_s)


class TestConstant:
    def test_times_are_k_over_rate_rounded_to_the_ns(self):
        shape = LoadShape.parse("constant", rate=3, duration_s=1.5)
        assert shape.expected_count() == 4  # floor(4.5)
        assert list(shape.offsets_ns()) == [0, 333_333_333, 666_666_667, NS]

    def test_a_partial_document_is_not_sent(self):
        assert LoadShape.parse("constant", rate=10, duration_s=1.05).expected_count() == 10
        assert LoadShape.parse("constant", rate=0.1, duration_s=10).expected_count() == 1

    def test_a_million_documents_are_exact_to_the_ns(self):
        """No drift: every offset equals round(k * 1e9 / 7) exactly, the last one included."""
        shape = LoadShape.parse("constant", rate=7, duration_s=142_857.2)
        assert shape.expected_count() == 1_000_000
        count = 0
        last = -1
        for k, offset in enumerate(shape.offsets_ns()):
            if offset != (k * 2 * NS + 7) // 14:  # nearest ns of k/7 s (never a tie)
                pytest.fail(f"document {k} at {offset} ns")
            last = offset
            count += 1
        assert count == 1_000_000
        assert last == 142_857 * NS  # 999_999 / 7 s exactly

    def test_a_limit_caps_the_count(self):
        shape = LoadShape.parse("constant", rate=100, duration_s=10)
        full = list(shape.offsets_ns())
        assert list(shape.offsets_ns(10)) == full[:10]
        assert list(shape.offsets_ns(5_000)) == full
        assert list(shape.offsets_ns(0)) == []
        with pytest.raises(ConfigError, match="--documents"):
            shape.offsets_ns(-1)

    def test_offsets_are_lazy(self):
        shape = LoadShape.parse("constant", rate=1e6, duration_s=1e6)  # 10^12 documents
        assert shape.expected_count() == 10**12
        offsets = shape.offsets_ns()
        assert [next(offsets) for _ in range(3)] == [0, 1_000, 2_000]

    def test_rate_at(self):
        shape = LoadShape.parse("constant", rate=20, duration_s=5)
        assert shape.rate_at(0) == shape.rate_at(4.999) == 20
        assert shape.rate_at(-0.1) == shape.rate_at(5) == 0


def _ramp_time_ns(k: int, start_rate: int, end_rate: int, duration_s: int) -> Decimal:
    """The closed form, in 50-digit decimals: r0*t + a*t^2/2 = k."""
    with localcontext() as ctx:
        ctx.prec = 50
        r0 = Decimal(start_rate)
        a = (Decimal(end_rate) - r0) / Decimal(duration_s)
        t = 2 * Decimal(k) / (r0 + (r0 * r0 + 2 * a * Decimal(k)).sqrt())
        return t * NS


class TestRamp:
    def test_default_ramp_goes_from_zero_to_rate(self):
        shape = LoadShape.parse("ramp", rate=1000, duration_s=100)
        assert shape.rate_at(0) == 0
        assert shape.rate_at(50) == pytest.approx(500)
        assert shape.expected_count() == 50_000  # 1000 * 100 / 2

    def test_kth_time_from_zero_is_sqrt_of_2dk_over_r(self):
        shape = LoadShape.parse("ramp", rate=1000, duration_s=100)
        for k, offset in enumerate(shape.offsets_ns()):
            exact = math.isqrt(k * 2 * 10**17)  # sqrt(2 * 100 s * k / 1000/s) in ns, floored
            assert exact - 1 <= offset <= exact + 1, k

    @pytest.mark.parametrize(("start_rate", "end_rate", "duration"),
                             [(10, 1000, 60), (1000, 10, 60), (1000, 0, 30), (5, 6, 3600)])
    def test_kth_time_matches_the_closed_form(self, start_rate, end_rate, duration):
        shape = LoadShape.parse(f"ramp:{start_rate}..{end_rate}", rate=1, duration_s=duration)
        assert shape.expected_count() == (start_rate + end_rate) * duration // 2
        offsets = list(shape.offsets_ns())
        for k in [*range(50), *range(len(offsets) - 50, len(offsets)), len(offsets) // 3]:
            exact = _ramp_time_ns(k, start_rate, end_rate, duration)
            assert abs(Decimal(offsets[k]) - exact) <= 1, k

    def test_a_falling_ramp_ends_exactly(self):
        """∫0..30 (1000 - 1000t/30) = 15000: the last document is where the rate nears zero."""
        shape = LoadShape.parse("ramp:1000..0", rate=1, duration_s=30)
        last = list(shape.offsets_ns())[-1]
        assert abs(Decimal(last) - _ramp_time_ns(14_999, 1000, 0, 30)) <= 1


class TestSteps:
    SPEC = "steps:100x30s,200x30s,400x1m"

    def test_the_steps_are_the_duration_without_one(self):
        shape = LoadShape.parse(self.SPEC, rate=1, duration_s=None)
        assert shape.duration_s == 120
        assert shape.expected_count() == 100 * 30 + 200 * 30 + 400 * 60
        assert LoadShape.parse(self.SPEC, rate=1, duration_s=0).duration_s == 120

    def test_boundaries(self):
        shape = LoadShape.parse(self.SPEC, rate=1, duration_s=None)
        offsets = list(shape.offsets_ns())
        assert offsets[2_999] == 29_990_000_000
        assert offsets[3_000] == 30 * NS  # the second step starts on the second
        assert offsets[3_001] == 30 * NS + 5_000_000
        assert offsets[9_000] == 60 * NS
        assert offsets[9_001] == 60 * NS + 2_500_000
        assert sum(o < 30 * NS for o in offsets) == 3_000
        assert sum(30 * NS <= o < 60 * NS for o in offsets) == 6_000
        assert sum(o >= 60 * NS for o in offsets) == 24_000
        assert shape.rate_at(29.999) == 100
        assert shape.rate_at(30) == 200
        assert shape.rate_at(119.9) == 400

    def test_a_shorter_duration_cuts_the_steps(self):
        shape = LoadShape.parse(self.SPEC, rate=1, duration_s=90)
        assert shape.duration_s == 90
        assert shape.expected_count() == 100 * 30 + 200 * 30 + 400 * 30

    def test_a_longer_duration_repeats_them(self):
        shape = LoadShape.parse(self.SPEC, rate=1, duration_s=150)
        assert shape.expected_count() == 33_000 + 100 * 30
        assert shape.rate_at(125) == 100
        assert list(shape.offsets_ns())[33_000] == 120 * NS

    def test_a_quiet_step_sends_nothing(self):
        shape = LoadShape.parse("steps:10x1s,0x1s,10x1.5s", rate=1, duration_s=None)
        offsets = list(shape.offsets_ns())
        assert len(offsets) == 25
        assert not [o for o in offsets if NS <= o < 2 * NS]
        assert offsets[10] == 2 * NS  # due at the end of the quiet, sent when sending resumes

    def test_units(self):
        shape = LoadShape.parse("steps:1x1h,2x1.5m,3x10,4x.5s", rate=1, duration_s=None)
        assert shape.duration_s == 3600 + 90 + 10 + 0.5


HOUR_S = 60.0  # one hour of the working day per minute of schedule


def _hour_of_day(offset_ns: int) -> float:
    return (offset_ns / NS / HOUR_S) % 24


class TestWorkday:
    def test_only_office_hours_send(self):
        shape = LoadShape.parse("workday:week", rate=40, duration_s=5 * 24 * HOUR_S)
        offsets = list(shape.offsets_ns())
        assert len(offsets) > 10_000
        outside = [o for o in offsets
                   if not (7.5 <= _hour_of_day(o) <= 11.5 or 13 <= _hour_of_day(o) <= 17)]
        assert outside == []
        assert min(_hour_of_day(o) for o in offsets) == 7.5  # doors open at 7:30
        for hour in (3, 7.4, 12, 12.9, 17.1, 23):
            assert shape.rate_at(hour * HOUR_S) == 0

    def test_the_peak_is_monday_morning(self):
        shape = LoadShape.parse("workday:week", rate=40, duration_s=5 * 24 * HOUR_S)
        grid = [i * HOUR_S / 60 for i in range(5 * 24 * 60)]  # every minute of the week
        busiest = max(grid, key=shape.rate_at)
        assert busiest / HOUR_S < 12  # Monday, before lunch
        assert shape.rate_at(busiest) == shape.peak_rate == 40
        per_hour = [0] * (5 * 24)
        for offset in shape.offsets_ns():
            per_hour[int(offset / NS / HOUR_S)] += 1
        busiest_hour = max(range(len(per_hour)), key=per_hour.__getitem__)
        assert 8 <= busiest_hour <= 11
        other_mornings = [max(per_hour[24 * d: 24 * d + 12]) for d in range(1, 5)]
        assert max(other_mornings) < per_hour[busiest_hour]

    def test_workday_is_one_monday(self):
        day = LoadShape.parse("workday", rate=40, duration_s=24 * HOUR_S)
        week = LoadShape.parse("workday:week", rate=40, duration_s=5 * 24 * HOUR_S)
        monday = [o for o in week.offsets_ns() if o < 24 * HOUR_S * NS]
        assert list(day.offsets_ns()) == monday
        assert LoadShape.parse("workday:day", rate=40, duration_s=60).segments \
            == LoadShape.parse("workday", rate=40, duration_s=60).segments

    def test_compression_keeps_the_profile(self):
        slow = LoadShape.parse("workday", rate=10, duration_s=86_400)
        fast = LoadShape.parse("workday", rate=10, duration_s=864)
        assert slow.rate_at(9.5 * 3600) == pytest.approx(fast.rate_at(9.5 * 36))
        assert slow.integral() == pytest.approx(100 * fast.integral())


class TestBadSpecs:
    @pytest.mark.parametrize("spec", [
        "", "sine", "constant:5", "ramp:10", "ramp:a..b", "ramp:-1..5", "ramp:0..0",
        "ramp:0..inf", "steps:", "steps:100", "steps:100x", "steps:100x0s", "steps:x10s",
        "steps:100x10d", "steps:0x10s,0x5s", "steps:-1x10s", "workday:month",
    ])
    def test_one_readable_line_with_the_accepted_forms(self, spec):
        with pytest.raises(ConfigError) as raised:
            LoadShape.parse(spec, rate=10, duration_s=60)
        message = str(raised.value)
        assert "\n" not in message
        assert repr(spec) in message
        assert "accepted: constant, ramp" in message

    @pytest.mark.parametrize("spec", ["constant", "ramp", "ramp:1..2", "workday", "workday:week"])
    @pytest.mark.parametrize("duration", [None, 0.0, -5.0, math.inf, math.nan])
    def test_a_duration_is_needed(self, spec, duration):
        with pytest.raises(ConfigError, match="needs a duration"):
            LoadShape.parse(spec, rate=10, duration_s=duration)

    @pytest.mark.parametrize("spec", ["constant", "ramp", "workday"])
    @pytest.mark.parametrize("rate", [0.0, -1.0, math.inf])
    def test_a_positive_rate_is_needed(self, spec, rate):
        with pytest.raises(ConfigError, match="--rate"):
            LoadShape.parse(spec, rate=rate, duration_s=60)

    def test_endless_repetition_is_refused(self):
        with pytest.raises(ConfigError, match="segments"):
            LoadShape.parse("steps:1x1s,2x1s", rate=1, duration_s=1e6)

    def test_spec_is_case_and_space_insensitive(self):
        assert LoadShape.parse(" Steps:100X30S ", rate=1, duration_s=None).expected_count() \
            == 3_000
