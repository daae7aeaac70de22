"""Load shapes: a piecewise-linear send rate r(t), in documents per second, over a duration.

Document *k* (k = 0, 1, ...) is intended at the first time at which the cumulative load reaches
past *k*: ``t_k = inf{t : ∫0..t r > k}``. Where the rate is positive that is the exact ``t`` with
``∫0..t r = k``; a document whose *k* falls on the end of a quiet (zero-rate) stretch is sent
when sending resumes, never during the quiet. A shape holds ``floor(∫0..duration r)`` documents.

Times are exact: every segment's start time and cumulative count are kept as exact fractions, and
each document's time is solved from its own segment's start (a constant segment gives
``t0 + (k - N0) / r``, a linear one the stable root of the quadratic), then rounded to the nearest
nanosecond. Nothing accumulates from one document to the next, so the millionth offset of a
schedule is as exact as the first.

Specs (``LoadShape.parse``; ``rate`` is ``--rate``, ``duration_s`` is ``--duration``):

``constant``
    ``rate`` for ``duration_s``.
``ramp`` / ``ramp:FROM..TO``
    linear from FROM to TO documents/s (default 0..rate) over ``duration_s``.
``steps:R1xD1,R2xD2,...``
    R1 documents/s for D1, then R2 for D2, ... (``steps:100x30s,200x30s,400x1m``; durations take
    ``s``, ``m`` or ``h``, bare numbers are seconds; ``rate`` is not used). The steps are one
    period: without a duration (``duration_s`` None or 0) the shape lasts exactly one period; with
    one, the period repeats from the first step until ``duration_s`` and is cut there (a shorter
    duration cuts the staircase, a longer one repeats it: periodic bursts).
``workday`` / ``workday:day`` / ``workday:week``
    one Vietnamese government working day (Monday), or the working week Monday to Friday, each day
    00:00-24:00, compressed into ``duration_s``. Documents are sent only in office hours
    (7:30-11:30 and 13:00-17:00), none at night, at lunch or at the weekend; the hourly profile
    (``WORKDAY_MORNING``, ``WORKDAY_AFTERNOON``, scaled per weekday by ``WORKDAY_DAY_FACTORS``) is
    an assumption [I], piecewise linear between its points, with the week's peak on Monday morning
    (the weekend's backlog and the Monday briefing). ``rate`` is that peak.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Any

from lgsp.errors import ConfigError

ACCEPTED = ("accepted: constant, ramp, ramp:FROM..TO, steps:RATExDURATION,... "
            "(e.g. steps:100x30s,200x1m), workday, workday:week")
MAX_SEGMENTS = 100_000
"""Repeating steps past this many segments is refused (a typo in a duration, most likely)."""
DESCRIBED_SEGMENTS = 200
"""``describe()`` lists at most this many segments (``segments_total`` tells the rest)."""

WORKDAY_MORNING: tuple[tuple[str, str], ...] = (
    ("7.5", "0.35"), ("8", "0.7"), ("9", "0.95"), ("10", "1"), ("11", "0.75"), ("11.5", "0.45"))
"""(hour of day, share of the day's morning peak) from the office opening to the lunch break."""
WORKDAY_AFTERNOON: tuple[tuple[str, str], ...] = (
    ("13", "0.4"), ("14", "0.75"), ("15", "0.85"), ("16", "0.75"), ("17", "0.45"))
"""(hour of day, share of the day's morning peak) from the end of lunch to closing."""
WORKDAY_DAY_FACTORS: tuple[tuple[str, str, str], ...] = (
    ("Mon", "1", "0.8"), ("Tue", "0.8", "0.7"), ("Wed", "0.8", "0.7"), ("Thu", "0.8", "0.7"),
    ("Fri", "0.75", "0.55"))
"""(weekday, morning factor, afternoon factor): Monday morning is the week's peak."""

_NS = 1_000_000_000
_Bad = Callable[[str], ConfigError]
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d*)?|\.\d+)(?P<unit>[smh]?)$")


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a shape: the rate goes linearly from ``from_rate`` to ``to_rate``."""

    start_s: float
    """Seconds from the schedule start."""
    end_s: float
    from_rate: float
    """Documents per second at ``start_s``."""
    to_rate: float
    """Documents per second just before ``end_s``."""

    def to_json(self) -> dict[str, float]:
        return {"start_s": self.start_s, "end_s": self.end_s, "from_rate": self.from_rate,
                "to_rate": self.to_rate}


class _Piece:
    """A segment in exact numbers, with what generating its documents needs precomputed."""

    __slots__ = ("base_ns", "end", "end_ns", "frac_ns", "n0", "n0_frac", "n0_int", "n1",
                 "n1_frac", "n1_int", "r0", "r0f", "r1", "r1f", "slope", "start")

    def __init__(self, start: Fraction, end: Fraction, r0: Fraction, r1: Fraction,
                 n0: Fraction) -> None:
        self.start, self.end, self.r0, self.r1 = start, end, r0, r1
        self.n0 = n0
        self.n1 = n0 + (r0 + r1) * (end - start) / 2
        start_ns = start * _NS
        self.base_ns = math.floor(start_ns)
        self.frac_ns = float(start_ns - self.base_ns)
        self.end_ns = round(end * _NS)
        self.n0_int = math.floor(self.n0)
        self.n0_frac = float(self.n0 - self.n0_int)
        self.n1_int = math.floor(self.n1)
        self.n1_frac = float(self.n1 - self.n1_int)
        self.r0f, self.r1f = float(r0), float(r1)
        self.slope = float((r1 - r0) / (end - start))

    def rate_at(self, t: float) -> float:
        span = float(self.end - self.start)
        return self.r0f + (self.r1f - self.r0f) * (t - float(self.start)) / span

    def offsets(self, first: int, stop: int, floor_ns: int) -> Iterator[int]:
        """Offsets of documents ``first`` .. ``stop - 1``, all inside this piece."""
        base, frac, end_ns = self.base_ns, self.frac_ns, self.end_ns
        n0_int, n0_frac = self.n0_int, self.n0_frac
        prev = floor_ns
        if self.r0 == self.r1:  # constant: t0 + (k - N0) / r
            rate = self.r0f
            for k in range(first, stop):
                t = base + round(frac + ((k - n0_int) - n0_frac) * 1e9 / rate)
                prev = t = min(max(t, prev), end_ns)
                yield t
            return
        # linear: r0*tau + a*tau^2/2 = m  ->  tau = 2m / (r0 + sqrt(D)), D = r(tau)^2, with D
        # taken from the segment's start when rising and from its end when falling, so that
        # it is a sum of non-negative terms (no cancellation near a rate of zero)
        r0, a2 = self.r0f, 2 * self.slope
        rising = a2 > 0
        d_base = r0 * r0 if rising else self.r1f * self.r1f
        n1_int, n1_frac = self.n1_int, self.n1_frac
        for k in range(first, stop):
            m = (k - n0_int) - n0_frac
            if m <= 0:
                tau = 0.0
            else:
                d = d_base + a2 * m if rising else d_base - a2 * ((n1_int - k) + n1_frac)
                tau = 2 * m / (r0 + math.sqrt(max(d, 0.0)))
            t = base + round(frac + tau * 1e9)
            prev = t = min(max(t, prev), end_ns)
            yield t


class LoadShape:
    """A piecewise-linear rate over ``duration_s`` and the exact intended times it implies."""

    def __init__(self, name: str, spec: str,
                 segments: Sequence[tuple[Fraction, Fraction, Fraction, Fraction]]) -> None:
        """``segments``: contiguous ``(start_s, end_s, from_rate, to_rate)`` from 0, exact."""
        if not segments:
            raise ConfigError(f"load shape {spec!r} has no segments")
        pieces: list[_Piece] = []
        cumulative = Fraction(0)
        expected_start = Fraction(0)
        for start, end, r0, r1 in segments:
            if start != expected_start or end <= start or r0 < 0 or r1 < 0:
                raise ConfigError(f"load shape {spec!r}: segments must be contiguous from 0, "
                                  "of positive length, with rates >= 0")
            piece = _Piece(start, end, r0, r1, cumulative)
            pieces.append(piece)
            cumulative = piece.n1
            expected_start = end
        self.name = name
        self.spec = spec
        self._pieces = pieces
        self._starts = [float(p.start) for p in pieces]
        self._total = cumulative
        self._duration = expected_start

    # ---- parsing -------------------------------------------------------------------------------
    @classmethod
    def parse(cls, spec: str, *, rate: float, duration_s: float | None) -> LoadShape:
        """The shape a ``--shape`` spec names (see the module docstring for the forms).

        ``rate`` is the constant rate, the default ramp end and the workday peak; ``duration_s``
        the schedule's length (for steps: None or 0 = one period of the steps)."""
        text = spec.strip().lower()
        name, _, arg = text.partition(":")

        def bad(problem: str) -> ConfigError:
            return ConfigError(f"bad load shape {spec!r}: {problem}; {ACCEPTED}")

        if name == "steps":
            if not arg:
                raise bad("steps needs RATExDURATION items, e.g. steps:100x30s,200x1m")
            return cls._steps(text, arg, duration_s, bad)
        if name not in ("constant", "ramp", "workday"):
            raise bad(f"unknown shape {name!r}")
        if duration_s is None or not math.isfinite(duration_s) or duration_s <= 0:
            raise bad(f"{name} needs a duration > 0 s (--duration), got {duration_s}")
        duration = _exact(duration_s)
        if name == "ramp":
            if arg:
                low, sep, high = arg.partition("..")
                if not sep:
                    raise bad(f"ramp takes FROM..TO documents/s, e.g. ramp:10..1000, not {arg!r}")
                start_rate, end_rate = _rate(low, bad), _rate(high, bad)
            else:
                start_rate, end_rate = Fraction(0), _peak(rate, bad)
            if start_rate == end_rate == 0:
                raise bad("a ramp from 0 to 0 sends nothing")
            return cls("ramp", text, [(Fraction(0), duration, start_rate, end_rate)])
        if name == "constant":
            if arg:
                raise bad("constant takes no argument (the rate is --rate)")
            peak = _peak(rate, bad)
            return cls("constant", text, [(Fraction(0), duration, peak, peak)])
        if arg not in ("", "day", "week"):
            raise bad(f"workday takes nothing, 'day' or 'week', not {arg!r}")
        return cls("workday", text, _workday(_peak(rate, bad), duration,
                                             days=5 if arg == "week" else 1))

    @classmethod
    def _steps(cls, text: str, arg: str, duration_s: float | None, bad: _Bad) -> LoadShape:
        steps: list[tuple[Fraction, Fraction]] = []
        for item in arg.split(","):
            rate_text, sep, duration_text = item.strip().partition("x")
            match = _DURATION.match(duration_text.strip())
            if not sep or match is None:
                raise bad(f"step {item.strip()!r} is not RATExDURATION such as 100x30s or 50x2m")
            length = Fraction(match["n"]) * _UNITS[match["unit"]]
            if length <= 0:
                raise bad(f"step {item.strip()!r} needs a duration > 0")
            steps.append((_rate(rate_text, bad), length))
        if all(r == 0 for r, _ in steps):
            raise bad("every step has rate 0; nothing would be sent")
        period = sum((length for _, length in steps), Fraction(0))
        if duration_s is None or duration_s == 0:
            total = period
        elif not math.isfinite(duration_s) or duration_s < 0:
            raise bad(f"the duration must be > 0 s, got {duration_s}")
        else:
            total = _exact(duration_s)
        if math.ceil(total / period) * len(steps) > MAX_SEGMENTS:
            raise bad(f"--duration {duration_s} s repeats the {float(period):g} s steps more "
                      f"than {MAX_SEGMENTS} segments; use longer steps or a shorter duration")
        segments: list[tuple[Fraction, Fraction, Fraction, Fraction]] = []
        t = Fraction(0)
        while t < total:
            for step_rate, length in steps:
                end = min(t + length, total)
                segments.append((t, end, step_rate, step_rate))
                t = end
                if t >= total:
                    break
        return cls("steps", text, segments)

    # ---- the shape -----------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        return float(self._duration)

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(Segment(float(p.start), float(p.end), p.r0f, p.r1f) for p in self._pieces)

    @property
    def peak_rate(self) -> float:
        return float(max(max(p.r0, p.r1) for p in self._pieces))

    @property
    def mean_rate(self) -> float:
        """The rate averaged over the duration (the integral, not the whole documents)."""
        return float(self._total / self._duration)

    def rate_at(self, t_s: float) -> float:
        """Documents per second at ``t_s`` from the start; 0 outside ``[0, duration)``.

        At a step between segments the rate is the later segment's (right-continuous)."""
        if t_s < 0 or t_s >= self.duration_s:
            return 0.0
        return self._pieces[bisect_right(self._starts, t_s) - 1].rate_at(t_s)

    def integral(self, t_s: float | None = None) -> float:
        """Documents due by ``t_s`` (``∫0..t r``); the whole shape's when None."""
        if t_s is None or t_s >= self.duration_s:
            return float(self._total)
        if t_s <= 0:
            return 0.0
        piece = self._pieces[bisect_right(self._starts, t_s) - 1]
        elapsed = t_s - float(piece.start)
        return float(piece.n0) + (piece.r0f + piece.rate_at(t_s)) / 2 * elapsed

    def due_by(self, t_s: float, limit: int | None = None) -> int:
        """Documents whose intended time is at or before ``t_s``: what a sender on schedule has
        sent by then (document 0 is due at the first instant of a sending stretch, so
        ``floor(∫0..t r) + 1`` while the rate is on, the whole documents so far in a quiet
        stretch); at most ``expected_count()`` or ``limit``."""
        count = self.expected_count() if limit is None else min(self.expected_count(), limit)
        if t_s < 0:
            return 0
        due = self.integral(t_s)
        if t_s >= self.duration_s:
            return count
        piece = self._pieces[bisect_right(self._starts, t_s) - 1]
        whole = math.ceil(due) if piece.n1 == piece.n0 else math.floor(due) + 1
        return min(whole, count)

    def expected_count(self) -> int:
        """Documents the shape holds: ``floor(∫0..duration r)``."""
        return math.floor(self._total)

    def offsets_ns(self, limit: int | None = None) -> Iterator[int]:
        """Intended offsets from the schedule start, in ns, of documents 0 .. n-1, lazily and in
        non-decreasing order; n = ``expected_count()``, or ``limit`` (``--documents``) if lower."""
        count = self.expected_count()
        if limit is not None:
            if limit < 0:
                raise ConfigError(f"--documents must be >= 0, got {limit}")
            count = min(count, limit)
        return self._offsets(count)

    def _offsets(self, count: int) -> Iterator[int]:
        k = 0
        prev = 0
        for piece in self._pieces:
            if k >= count:
                return
            if piece.n1 == piece.n0:
                continue  # a quiet stretch: no document is intended in it
            stop = min(count, math.ceil(piece.n1))  # document k is in the piece if N0 <= k < N1
            for offset in piece.offsets(k, stop, prev):
                yield offset
                prev = offset
            k = max(k, stop)

    def last_offset_s(self) -> float | None:
        """Seconds from the start to the last document's intended time (None: no document).
        A shape can end in a quiet stretch (a workday's evening): the schedule is over then."""
        count = self.expected_count()
        if count == 0:
            return None
        k = count - 1
        piece = next(p for p in self._pieces if p.n0 <= k < p.n1 and p.n1 != p.n0)
        return next(piece.offsets(k, k + 1, 0)) / _NS

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for reports and ``--dry-run``."""
        last = self.last_offset_s()
        return {
            "shape": self.name,
            "spec": self.spec,
            "peak_rate": round(self.peak_rate, 6),
            "mean_rate": round(self.mean_rate, 6),
            "duration_s": round(self.duration_s, 9),
            "expected_documents": self.expected_count(),
            "last_document_s": None if last is None else round(last, 3),
            "segments_total": len(self._pieces),
            "segments": [s.to_json() for s in self.segments[:DESCRIBED_SEGMENTS]],
        }

    def __repr__(self) -> str:
        return (f"LoadShape({self.spec!r}, duration_s={self.duration_s:g}, "
                f"expected={self.expected_count()})")


def _exact(value: float) -> Fraction:
    """The decimal a float was written as (``0.1`` is 1/10, not the nearest binary fraction)."""
    return Fraction(repr(float(value)))


def _rate(text: str, bad: _Bad) -> Fraction:
    try:
        value = float(text)
    except ValueError:
        raise bad(f"{text.strip()!r} is not a rate in documents/s") from None
    if not math.isfinite(value) or value < 0:
        raise bad(f"rate {text.strip()!r} must be a finite number >= 0")
    return _exact(value)


def _peak(rate: float, bad: _Bad) -> Fraction:
    if not math.isfinite(rate) or rate <= 0:
        raise bad(f"--rate must be > 0 documents/s, got {rate}")
    return _exact(rate)


def _workday(peak: Fraction, duration: Fraction,
             days: int) -> list[tuple[Fraction, Fraction, Fraction, Fraction]]:
    """Segments of ``days`` working days from Monday 00:00, each 24 h, into ``duration``."""
    scale = duration / (24 * days)  # seconds of schedule per hour of the day
    segments: list[tuple[Fraction, Fraction, Fraction, Fraction]] = []

    def add(start_h: Fraction, end_h: Fraction, r0: Fraction, r1: Fraction) -> None:
        start, end = start_h * scale, end_h * scale
        if segments and r0 == r1 == 0 and segments[-1][2] == segments[-1][3] == 0:
            segments[-1] = (segments[-1][0], end, r0, r1)  # one quiet stretch overnight
        else:
            segments.append((start, end, r0, r1))

    for day, (_, morning, afternoon) in enumerate(WORKDAY_DAY_FACTORS[:days]):
        day_h = Fraction(24 * day)
        hour = day_h
        for points, factor in ((WORKDAY_MORNING, morning), (WORKDAY_AFTERNOON, afternoon)):
            pts = [(day_h + Fraction(h), peak * Fraction(factor) * Fraction(share))
                   for h, share in points]
            add(hour, pts[0][0], Fraction(0), Fraction(0))
            for (h0, r0), (h1, r1) in pairwise(pts):
                add(h0, h1, r0, r1)
            hour = pts[-1][0]
        add(hour, day_h + 24, Fraction(0), Fraction(0))
    return segments
