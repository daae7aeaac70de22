"""``RunMetrics`` as exact, mergeable JSON: how workers and hosts combine their figures.

Counters add; HDR histograms travel as their base64 encoding and merge bucket by bucket, so the
quantiles of a merged run are exactly those of one process that had seen every value. A worker
sends its state to the coordinator; a report carries the state of its run, so ``lgsp report merge``
of several hosts' reports is exact too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields
from typing import Any

from lgsp.metrics.histogram import Histogram
from lgsp.metrics.run import Route, RouteStats, RunMetrics, SigningStats
from lgsp.metrics.series import IntervalSeries

STATE_VERSION = 1
_INT_KEYED = {"hops", "fan_out", "content_versions"}
_NOT_MERGED = {"measure_from_ns", "measure_from_wall_us"}
MAX_EXAMPLES = 5
"""Conformance examples kept per party and check in a merge."""


def _encode(value: Any) -> Any:
    if isinstance(value, Histogram):
        return value.encode()
    if isinstance(value, Counter):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, IntervalSeries):
        return value.to_state()
    if isinstance(value, RouteStats | SigningStats):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    return value


def _decode_into(target: Any, state: dict[str, Any]) -> None:
    """Set the fields of a fresh dataclass from ``state`` (unknown keys are an error)."""
    for name, raw in state.items():
        current = getattr(target, name)  # AttributeError: a state of another version
        if isinstance(current, Histogram):
            setattr(target, name, Histogram.decode(raw))
        elif isinstance(current, Counter):
            setattr(target, name, Counter({int(k) if name in _INT_KEYED else k: v
                                           for k, v in raw.items()}))
        else:
            setattr(target, name, raw)


def to_state(metrics: RunMetrics) -> dict[str, Any]:
    state: dict[str, Any] = {"state_version": STATE_VERSION}
    for f in fields(metrics):
        value = getattr(metrics, f.name)
        if f.name == "routes":
            state["routes"] = [{"route": [r.sender_tier, r.recipient_tier, r.path],
                                "stats": _encode(s)} for r, s in sorted(value.items())]
        elif isinstance(value, dict) and not isinstance(value, Counter):
            state[f.name] = {k: _encode(v) for k, v in sorted(value.items())}
        else:
            state[f.name] = _encode(value)
    return state


def from_state(state: dict[str, Any]) -> RunMetrics:
    if state.get("state_version") != STATE_VERSION:
        raise ValueError(f"metrics state version {state.get('state_version')!r} is not "
                         f"{STATE_VERSION}")
    metrics = RunMetrics()
    for name, raw in state.items():
        if name == "state_version":
            continue
        if name == "routes":
            for item in raw:
                stats = RouteStats()
                _decode_into(stats, item["stats"])
                metrics.routes[Route(*item["route"])] = stats
        elif name == "signing":
            _decode_into(metrics.signing, raw)
        elif name == "signing_by_tier":
            for tier, item in raw.items():
                _decode_into(metrics.tier_signing(tier), item)
        elif name == "platform_counts":
            metrics.platform_counts = {k: Counter(v) for k, v in raw.items()}
        elif name == "stages":
            metrics.stages = {k: Histogram.decode(v) for k, v in raw.items()}
        elif name == "series":
            metrics.series = IntervalSeries.from_state(raw)
        else:
            _decode_into(metrics, {name: raw})
    return metrics


def _merge_fields(total: Any, part: Any) -> None:
    for f in fields(part):
        if f.name in _NOT_MERGED:
            continue
        mine, theirs = getattr(total, f.name), getattr(part, f.name)
        if isinstance(mine, Histogram | IntervalSeries):
            mine.merge(theirs)
        elif isinstance(mine, Counter):
            mine.update(theirs)
        elif isinstance(mine, int):
            setattr(total, f.name, mine + theirs)


def merge(parts: list[RunMetrics]) -> RunMetrics:
    """One ``RunMetrics`` holding everything the parts saw."""
    total = RunMetrics()
    if parts:
        total.series = IntervalSeries(interval_s=parts[0].series.interval_s,
                                      warmup_s=parts[0].series.warmup_s)
    for part in parts:
        _merge_fields(total, part)
        _merge_fields(total.signing, part.signing)
        for route, stats in part.routes.items():
            _merge_fields(total.route(route), stats)
        for tier, signing in part.signing_by_tier.items():
            _merge_fields(total.tier_signing(tier), signing)
        for platform, counts in part.platform_counts.items():
            total.platform(platform).update(counts)
        for name, histogram in part.stages.items():
            total.stage(name).merge(histogram)
        for key, examples in part.conformance_examples.items():
            kept = total.conformance_examples.setdefault(key, [])
            kept.extend(examples[:max(0, MAX_EXAMPLES - len(kept))])
    return total
