"""Latency and cost histograms: HdrHistogram (mergeable, p50..p99.99 + max) in microseconds."""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_DIGITS = 3


class Histogram:
    """Values in microseconds; summaries in milliseconds (latency) or microseconds (cost)."""

    __slots__ = ("_h",)

    def __init__(self, digits: int = _DIGITS) -> None:
        """``digits``: significant decimal digits kept (3 for whole-run figures; 2 is enough for
        the per-interval series and 8x smaller)."""
        self._h = HdrHistogram(_LOWEST_US, _HIGHEST_US, digits)

    @classmethod
    def decode(cls, encoded: str) -> Histogram:
        """The inverse of ``encode`` (an empty string is an empty histogram)."""
        histogram = cls()
        if encoded:
            histogram._h = HdrHistogram.decode(encoded)
        return histogram

    def record_us(self, value_us: float) -> None:
        self._h.record_value(min(max(int(value_us), _LOWEST_US), _HIGHEST_US))

    def record_ns(self, value_ns: int) -> None:
        self.record_us(value_ns / 1000)

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile_us(self, p: float) -> int:
        return int(self._h.get_value_at_percentile(p)) if self.count else 0

    @property
    def max_us(self) -> int:
        return int(self._h.get_max_value()) if self.count else 0

    @property
    def mean_us(self) -> float:
        """hdrh's mean walks an iterator over every sub-bucket (~0.1 s per histogram); this
        reads the counts array directly, with the same median-equivalent values."""
        h = self._h
        if not h.total_count:
            return 0.0
        counts = h.counts
        total = 0
        for index in range(h.counts_len):
            count = counts[index]
            if count:
                total += count * h._hdr_median_equiv_value(h.get_value_from_index(index))
        return float(total) / h.total_count

    def count_at_or_below_us(self, bound_us: int) -> int:
        """How many recorded values are <= ``bound_us`` (at the histogram's precision)."""
        total = 0
        for item in self._h.get_recorded_iterator():
            if item.value_iterated_to > bound_us:
                break
            total += item.count_at_value_iterated_to
        return total

    def merge(self, other: Histogram) -> None:
        self._h.add(other._h)

    def encode(self) -> str:
        """Base64 HdrHistogram encoding (portable: merge results from several hosts)."""
        return self._h.encode().decode() if self.count else ""

    def percentiles_us(self, *ps: float) -> dict[float, int]:
        """Several percentiles in one pass over the counts."""
        if not self.count:
            return dict.fromkeys(ps, 0)
        return {p: int(v) for p, v in self._h.get_percentile_to_value_dict(list(ps)).items()}

    def summary_ms(self) -> dict[str, Any]:
        found = self.percentiles_us(50, 90, 99, 99.9)
        return {"count": self.count,
                **{f"p{_label(p)}": round(v / 1000, 3) for p, v in found.items()},
                "max": round(self.max_us / 1000, 3)}

    def quantiles_ms(self) -> dict[str, Any]:
        """The load tester's summary: count, mean, p50/p90/p99/p99.9/p99.99 and max, in ms."""
        found = self.percentiles_us(50, 90, 99, 99.9, 99.99)
        return {"count": self.count, "mean": round(self.mean_us / 1000, 3),
                **{f"p{p:g}": round(v / 1000, 3) for p, v in found.items()},
                "max": round(self.max_us / 1000, 3)}

    def summary_us(self) -> dict[str, Any]:
        found = self.percentiles_us(50, 99)
        return {"count": self.count, "mean": round(self.mean_us, 1),
                "p50": found[50], "p99": found[99], "max": self.max_us}


def _label(p: float) -> str:
    return str(p).replace(".", "").rstrip("0") if p != int(p) else str(int(p))
