"""docs/report.schema.json describes what ``build_report`` and ``merge_reports`` really write."""

from __future__ import annotations

import asyncio
import copy
import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lgsp.config import StatusSeals
from lgsp.errors import ConfigError
from lgsp.metrics.report import REPORT_SCHEMA_VERSION, build_report
from lgsp.metrics.report_merge import merge_reports
from lgsp.metrics.run import LOCAL, VIA_VDXP, Route, RunMetrics
from lgsp.metrics.series import IntervalSeries
from lgsp.metrics.slo import Slo, evaluate
from lgsp.run import SimulationConfig, find_max_rate
from producers.load_shape import LoadShape

SCHEMA_PATH = Path(__file__).parents[2] / "docs" / "report.schema.json"
TIERS = ["central", "province", "district", "commune"]
NEAR = Route("province", "district", LOCAL)
FAR = Route("commune", "central", VIA_VDXP)
S = 1_000_000_000  # ns


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _metrics(seed: int) -> RunMetrics:
    """A small run touching every section: both paths, failures, hops, series with warm-up."""
    rng = random.Random(seed)
    m = RunMetrics(series=IntervalSeries(interval_s=1.0, warmup_s=1.0))
    for route, n, hops in ((NEAR, 40, 1), (FAR, 10, 3)):
        stats = m.route(route)
        stats.sent, stats.delivered, stats.completed = n, n - 1, n - 2
        stats.lost, stats.incomplete = 1, 1
        stats.hops[hops] += n - 1
        for _ in range(n - 1):
            stats.send_to_arrived.record_us(rng.uniform(1000, 4000))
            stats.send_to_completed.record_us(rng.uniform(2000, 4000))
    for i in range(50):
        at = i * S // 10
        m.series.count("target", at)
        m.series.count("sent", at + 1000)
        m.series.arrived(at + S // 5, S // 5)
        m.series.count("completed", at + S // 2)
        m.sign_cost.record_us(rng.uniform(200, 900))
        m.verify_cost.record_us(rng.uniform(500, 2000))
        m.schedule_lag.record_us(rng.uniform(0, 3000))
        for stage in ("produce_ack", "hop.submit", "hop.lgsp_to_vdxp", "hop.vdxp_to_lgsp",
                      "hop.deliver", "seal", "seal_check"):
            m.stage(stage).record_us(rng.uniform(100, 3000))
    m.series.count("errors", 2 * S)
    for stats in (m.signing, m.tier_signing("province"), m.tier_signing("commune")):
        stats.documents, stats.personal_signed, stats.agency_signed = 50, 48, 50
        stats.both_signed, stats.verified_documents, stats.personal_valid = 48, 49, 47
        stats.agency_valid, stats.legally_valid = 48, 47
        stats.failures["revoked"] += 1
    m.documents_by_tier.update({"province": 40, "commune": 10})
    m.fan_out.update({1: 30, 2: 20})
    m.rejections["revoked"] += 1
    m.undeliverable_reasons["unknown_recipient"] += 1
    m.dead_letters["undecodable"] += 1
    m.unexpected_statuses["duplicate"] += 1
    m.record_forged_status("sealed_by_other", "06", injected=True)
    m.record_forged_status("unsealed", "01", injected=False)
    m.refused_at_send["secret_document"] += 1
    m.send_errors["status_produce_failed"] += 1
    m.content_versions[2] += 49
    m.platform("LGSP-H56").update({"delivered_local": 39, "forwarded": 10,
                                   "transport_fail:unknown_recipient": 1})
    m.platform("VDXP").update({"forwarded": 10, "status_forwarded": 20})
    return m


def _report(seed: int = 1, host_shard: str = "1/1") -> dict[str, Any]:
    run = {"run_id": "run-schema", "started_at": "2026-01-05T08:00:00+00:00",
           "broker": "embedded", "bootstrap": "127.0.0.1:9092", "setup_s": 1.25, "workers": 2,
           "recorded": None,
           "config": SimulationConfig(documents=50, rate=10.0, warmup_s=1.0,
                                      status_seals=StatusSeals.ON).to_json(),
           "host_shard": host_shard,
           "per_worker": [{"worker": "1/2", "documents": 26, "send_s": 5.1},
                          {"worker": "2/2", "documents": 24, "send_s": 5.0}],
           "stopped_early": False}
    topology = {"tiers": TIERS, "agencies": 904, "platforms": ["VDXP", "LGSP-H56"],
                "counts_by_tier": {"central": 30, "province": 41, "district": 39,
                                   "commune": 794}}
    report = build_report(_metrics(seed), run=run, topology=topology, duration_s=5.5,
                          send_duration_s=5.1,
                          load=LoadShape.parse("constant", rate=10.0, duration_s=5.0).describe())
    report["slo"] = [v.to_json() for v in evaluate(
        [Slo.parse("lost == 0"), Slo.parse("p99(hop.submit) < 1s"),
         Slo.parse("p99(hop.lgsp_to_lgsp) < 1s")], report)]
    return json.loads(json.dumps(report))  # as written to and read from a file


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    """One host's report (build_report is the slow part; tests take deep copies)."""
    return _report(1, "1/2")


def _errors(validator: jsonschema.Draft202012Validator, report: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(report)]


def test_a_built_report_matches_the_schema(validator: jsonschema.Draft202012Validator,
                                           built: dict[str, Any]) -> None:
    report = copy.deepcopy(built)
    assert report["schema_version"] == REPORT_SCHEMA_VERSION == 2
    assert {"hop.submit", "hop.deliver", "seal", "seal_check"} <= set(report["latency"])
    assert report["forged_statuses"] == {
        "required": True, "checked": 50, "forged": 2, "injected": 1,
        "by_reason": {"sealed_by_other": {"06": 1}, "unsealed": {"01": 1}}}
    assert report["signing"]["seal_cost_us"]["count"] == 50
    assert {v["status"] for v in report["slo"]} == {"breached", "passed", "no_data"}
    assert _errors(validator, report) == []


def test_a_find_max_report_matches_the_schema(validator: jsonschema.Draft202012Validator,
                                              built: dict[str, Any]) -> None:
    class Trial:  # stands in for a LoadRun: every trial "measures" the same synthetic run
        def __init__(self, config: SimulationConfig) -> None:
            self.config = config

        async def run(self, _stop: asyncio.Event) -> dict[str, Any]:
            return copy.deepcopy(built)

    config = SimulationConfig(documents=None, duration_s=5.0, rate=10.0)
    report = asyncio.run(find_max_rate(Trial, config, [Slo.parse("p99(send_to_arrived) < 2s")],
                                       stop=asyncio.Event(), progress=lambda *_: None,
                                       max_trials=3))
    assert len(report["find_max"]["trials"]) == 3
    assert _errors(validator, json.loads(json.dumps(report))) == []


def test_merged_reports_match_the_schema(validator: jsonschema.Draft202012Validator,
                                         built: dict[str, Any]) -> None:
    merged = merge_reports([("h1.json", built), ("h2.json", _report(2, "2/2"))])
    assert merged["run"]["workers"] == 4
    assert "merge_warning" not in merged["run"]
    assert [m["host_shard"] for m in merged["run"]["merged_from"]] == ["1/2", "2/2"]
    assert _errors(validator, json.loads(json.dumps(merged))) == []

    partial = merge_reports([("a.json", built)])  # host 2/2 missing: merged, with a warning
    assert "merge_warning" in partial["run"]
    assert _errors(validator, json.loads(json.dumps(partial))) == []
    with pytest.raises(ConfigError, match="repeat"):  # the same host twice would double-count
        merge_reports([("a.json", built), ("a.json", built)])


def _drop_latency(r: dict[str, Any]) -> None:
    del r["latency"]


def _drop_p9999(r: dict[str, Any]) -> None:
    del r["latency"]["send_to_arrived"]["p99.99"]


def _version_1(r: dict[str, Any]) -> None:
    r["schema_version"] = 1


def _not_hdr(r: dict[str, Any]) -> None:
    r["histograms"]["sign"] = "not a histogram"


def _unknown_total(r: dict[str, Any]) -> None:
    r["totals"]["deliverd"] = 1


@pytest.mark.parametrize("spoil", [_drop_latency, _drop_p9999, _version_1, _not_hdr,
                                   _unknown_total])
def test_a_spoilt_report_fails_validation(validator: jsonschema.Draft202012Validator,
                                          built: dict[str, Any], spoil: Any) -> None:
    report = copy.deepcopy(built)
    assert not _errors(validator, report)
    spoil(report)
    assert _errors(validator, report)
