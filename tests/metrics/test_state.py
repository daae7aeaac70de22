"""Workers' and hosts' metrics merge exactly: counters add, HDR quantiles equal one big run's."""

from __future__ import annotations

import json
import random

from lgsp.metrics.histogram import Histogram
from lgsp.metrics.run import LOCAL, VIA_VDXP, Route, RunMetrics
from lgsp.metrics.series import IntervalSeries
from lgsp.metrics.state import from_state, merge, to_state

ROUTE = Route("province", "district", LOCAL)
FAR = Route("commune", "central", VIA_VDXP)


def _fill(metrics: RunMetrics, rng: random.Random, n: int) -> list[int]:
    values = [int(rng.lognormvariate(10, 1)) for _ in range(n)]
    for v in values:
        metrics.route(ROUTE).send_to_arrived.record_us(v)
        metrics.stage("hop.submit").record_us(v // 3)
        metrics.series.arrived(v * 1000, v * 1000)
    metrics.route(ROUTE).sent += n
    metrics.route(ROUTE).delivered += n
    metrics.route(FAR).lost += 1
    metrics.route(ROUTE).hops[1] += n
    metrics.fan_out[3] += n
    metrics.signing.documents += n
    metrics.signing.failures["expired_certificate"] += 2
    metrics.tier_signing("province").both_signed += n
    metrics.dead_letters["undecodable"] += 1
    metrics.platform("H56")["forwarded"] += n
    return values


def test_merged_quantiles_equal_those_of_one_histogram_of_every_value() -> None:
    rng = random.Random(7)
    parts = [RunMetrics(series=IntervalSeries(interval_s=1.0)) for _ in range(3)]
    every: list[int] = []
    for part in parts:
        every += _fill(part, rng, 5000)
    reference = Histogram()
    for v in every:
        reference.record_us(v)
    # through JSON, as between processes and hosts
    merged = merge([from_state(json.loads(json.dumps(to_state(p)))) for p in parts])
    got = merged.route(ROUTE).send_to_arrived
    assert got.count == 15000
    assert got.percentiles_us(50, 99, 99.9, 99.99) == reference.percentiles_us(50, 99, 99.9, 99.99)
    assert got.max_us == reference.max_us
    assert merged.route(ROUTE).sent == 15000
    assert merged.route(FAR).lost == 3
    assert merged.route(ROUTE).hops == {1: 15000}
    assert merged.fan_out == {3: 15000}
    assert merged.signing.failures == {"expired_certificate": 6}
    assert merged.tier_signing("province").both_signed == 15000
    assert merged.dead_letters == {"undecodable": 3}
    assert merged.platform("H56")["forwarded"] == 15000
    assert merged.stage("hop.submit").count == 15000
    assert sum(p.counts["arrived"] for p in merged.series.points.values()) == 15000
    assert merged.series.interval_s == 1.0


def test_state_round_trip_keeps_every_field() -> None:
    metrics = RunMetrics()
    _fill(metrics, random.Random(1), 100)
    metrics.content_versions[2] += 5
    again = from_state(to_state(metrics))
    assert to_state(again) == to_state(metrics)
    assert again.content_versions == {2: 5}


def test_mean_is_hdrhistograms_mean() -> None:
    """The fast mean reads the counts array; it must equal HdrHistogram's own."""
    histogram = Histogram()
    rng = random.Random(3)
    for _ in range(20000):
        histogram.record_us(rng.lognormvariate(9, 1.5))
    assert histogram.mean_us == histogram._h.get_mean_value()
    assert Histogram().mean_us == 0.0
