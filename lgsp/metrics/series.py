"""The interval series: what happened in each few-second window of a run, on one clock.

Every worker buckets its own events by time since the run's schedule start (the coordinator hands
all workers of a host the same start on the shared monotonic clock), so the series of several
workers merge by adding bucket to bucket. Counts are bucketed by when they happened; ``target`` by
the *intended* time of a document, so ``target`` vs ``sent`` shows a schedule falling behind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lgsp.metrics.histogram import Histogram

DEFAULT_INTERVAL_S = 5.0
SERIES_DIGITS = 2

TARGET = "target"
SENT = "sent"
DUE = "due"
"""Deliveries (document × recipient) of the documents intended in the interval: what ``arrived``
is held against to see a backlog, exactly, whatever the fan-out of a few documents."""
ARRIVED = "arrived"
COMPLETED = "completed"
ERRORS = "errors"
"""Lost, rejected, undeliverable, failed sends and dead letters, when counted."""
COUNTS = (TARGET, SENT, DUE, ARRIVED, COMPLETED, ERRORS)


@dataclass(slots=True)
class IntervalPoint:
    counts: Counter[str] = field(default_factory=Counter)
    send_to_arrived: Histogram = field(default_factory=lambda: Histogram(SERIES_DIGITS))


class IntervalSeries:
    """Buckets of ``interval_s`` seconds from ``start_ns`` (monotonic)."""

    def __init__(self, *, start_ns: int = 0, interval_s: float = DEFAULT_INTERVAL_S,
                 warmup_s: float = 0.0) -> None:
        self.start_ns = start_ns
        self.interval_s = interval_s
        self.warmup_s = warmup_s
        self._interval_ns = int(interval_s * 1e9)
        self.points: dict[int, IntervalPoint] = {}

    def restart(self, start_ns: int) -> None:
        """Move the origin (the schedule starts once every worker is ready)."""
        self.start_ns = start_ns
        self.points.clear()

    def _point(self, at_ns: int) -> IntervalPoint:
        index = max(at_ns - self.start_ns, 0) // self._interval_ns
        point = self.points.get(index)
        if point is None:
            point = self.points[index] = IntervalPoint()
        return point

    def count(self, name: str, at_ns: int, n: int = 1) -> None:
        self._point(at_ns).counts[name] += n

    def arrived(self, at_ns: int, latency_ns: int) -> None:
        point = self._point(at_ns)
        point.counts[ARRIVED] += 1
        point.send_to_arrived.record_ns(latency_ns)

    def merge(self, other: IntervalSeries) -> None:
        for index, theirs in other.points.items():
            mine = self.points.get(index)
            if mine is None:
                mine = self.points[index] = IntervalPoint()
            mine.counts.update(theirs.counts)
            mine.send_to_arrived.merge(theirs.send_to_arrived)

    # ---- (de)serialisation: worker → coordinator, and host reports → ``lgsp report merge`` ----
    def to_state(self) -> dict[str, Any]:
        return {"interval_s": self.interval_s, "warmup_s": self.warmup_s,
                "points": {str(i): {"counts": dict(p.counts),
                                    "send_to_arrived": p.send_to_arrived.encode()}
                           for i, p in sorted(self.points.items())}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IntervalSeries:
        series = cls(interval_s=float(state["interval_s"]), warmup_s=float(state["warmup_s"]))
        for index, point in state["points"].items():
            series.points[int(index)] = IntervalPoint(
                Counter(point["counts"]), Histogram.decode(point["send_to_arrived"]))
        return series

    def report(self, until_s: float | None = None) -> dict[str, Any]:
        """The JSON series: one point per interval from 0 to the last with data. ``until_s``
        (the run's length) gives the last, partial interval its true width for rates."""
        last = max(self.points, default=-1)
        points = []
        for index in range(last + 1):
            point = self.points.get(index) or IntervalPoint()
            t_s = index * self.interval_s
            width = self.interval_s
            if until_s is not None and t_s < until_s < t_s + width:
                width = until_s - t_s
            counts = {name: point.counts.get(name, 0) for name in COUNTS}
            latency = point.send_to_arrived
            found = latency.percentiles_us(50, 90, 99)
            points.append({
                "t_s": round(t_s, 3), "width_s": round(width, 3),
                "warmup": t_s < self.warmup_s, **counts,
                "target_rate": round(counts[TARGET] / width, 2),
                "achieved_rate": round(counts[SENT] / width, 2),
                "send_to_arrived_ms": {"count": latency.count,
                                       **{f"p{p:g}": round(v / 1000, 3) for p, v in found.items()},
                                       "max": round(latency.max_us / 1000, 3)},
            })
        return {"interval_s": self.interval_s, "warmup_s": self.warmup_s, "points": points}
