"""The HTML run report, opened in headless Chromium: every chart is drawn from the embedded data,
no script fails, the header shows the report's figures, and a sparse report still renders.

The report is a realistic fixture shaped like ``lgsp simulate --report`` output (schema 2: with
``series``, ``latency``, ``histograms``, ``slo`` and ``load``), its latencies recorded in real HDR
histograms; a simulation would cost ~40 s of broker time for the same checks.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import math
import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from lgsp.metrics.histogram import Histogram
from lgsp.metrics.html_report import CHART_IDS, latency_curves, render_html
from lgsp.metrics.report import build_report
from lgsp.metrics.run import LOCAL, VIA_VDXP, Route, RunMetrics
from lgsp.metrics.series import IntervalSeries

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
CHROMIUM_TIMEOUT_S = 90
TIERS = ("central", "province", "district", "commune")
HOSTILE = "Sở Nội vụ </script><script>document.title='pwned'</script><!-- &amp;"
ROUTES = (  # sender tier, recipient tier, path, deliveries, mean ms to 01, lost, rejected
    ("central", "central", "local", 30, 45.0, 0, 0),
    ("central", "province", "via_vdxp", 290, 75.0, 0, 0),
    ("province", "central", "via_vdxp", 380, 80.0, 0, 0),
    ("province", "province", "local", 760, 50.0, 0, 0),
    ("province", "province", "via_vdxp", 450, 82.0, 0, 0),
    ("province", "district", "local", 1060, 55.0, 2, 0),
    ("district", "province", "local", 450, 52.0, 0, 0),
    ("district", "district", "local", 90, 48.0, 0, 0),
    ("district", "commune", "local", 1240, 60.0, 0, 3),
    ("commune", "district", "local", 470, 58.0, 0, 0),
    ("commune", "commune", "local", 750, 62.0, 0, 0),
)
FAILURES = {"revoked": 3, "tampered": 1}


# ---------------------------------------------------------------- the report fixture
FAULTS = {
    "injected": 7, "detected": 6, "missed": 1, "detection_share": round(6 / 7, 6),
    "false_positives": {"02 bad_signature": 1},
    "kinds": [
        {"kind": "revoked-certificate", "unit": "document", "injected": 4, "detected": 4,
         "missed": 0, "undecided": 0, "expected": "02 revoked", "by": {"02 revoked": 4},
         "as_expected": True, "also_dead_lettered": False},
        {"kind": "dropped-status", "unit": "document", "injected": 3, "detected": 2,
         "missed": 1, "undecided": 0, "expected": "missing status",
         "by": {"missing status": 2}, "as_expected": True, "also_dead_lettered": False},
    ],
}
"""Two fault kinds, one missed once, and a false positive (``lgsp simulate --inject``)."""


def _quantiles_ms(h: Histogram) -> dict[str, Any]:
    """``report["latency"][stage]``: count, mean, p50/p90/p99/p99.9/p99.99, max (ms)."""
    found = h.percentiles_us(50, 90, 99, 99.9, 99.99)
    return {"count": h.count, "mean": round(h.mean_us / 1000, 3),
            **{f"p{p:g}": round(v / 1000, 3) for p, v in found.items()},
            "max": round(h.max_us / 1000, 3)}


def _point_ms(h: Histogram) -> dict[str, Any]:
    found = h.percentiles_us(50, 90, 99)
    return {"count": h.count, **{f"p{p:g}": round(v / 1000, 3) for p, v in found.items()},
            "max": round(h.max_us / 1000, 3)}


def _verdict(metric: str, op: str, threshold: float, unit: str,
             actual: float | None) -> dict[str, Any]:
    """An SLO verdict as ``SloVerdict.to_json`` writes it (no data: not passed)."""
    shown = f"{threshold:g}ms" if unit == "ms" else f"{threshold:g}"
    passed = actual is not None and (actual < threshold if op == "<" else actual == threshold)
    status = "no_data" if actual is None else ("passed" if passed else "breached")
    reason = (f"the report has no data for {metric}" if actual is None
              else f"{metric} = {actual:g} {op} {threshold:g}")
    return {"expression": f"{metric} {op} {shown}", "metric": metric, "op": op,
            "threshold": threshold, "unit": unit, "actual": actual, "passed": passed,
            "status": status, "reason": reason}


def _latency_ms(rng: random.Random, mean_ms: float) -> float:
    """A right-skewed latency with a rare slow tail (a GC pause, a rebalance)."""
    value = rng.lognormvariate(math.log(mean_ms), 0.35)
    return value * rng.uniform(4, 12) if rng.random() < 0.002 else value


def realistic_report() -> dict[str, Any]:
    """A 60 s run at 50 documents/s over four tiers (5 s warm-up), as ``lgsp simulate`` writes."""
    return copy.deepcopy(_realistic_report())


@functools.cache
def _realistic_report() -> dict[str, Any]:
    rng = random.Random(20240611)
    interval_s, duration_s, warmup_s, rate = 5.0, 60, 5, 50.0
    documents = int(rate * duration_s)
    stages = {name: Histogram() for name in (
        "schedule_lag", "sign", "produce_ack", "hop.1", "hop.2", "verify", "send_to_arrived",
        "send_to_completed")}
    buckets = [Histogram() for _ in range(int(duration_s / interval_s) + 1)]
    arrived_by_bucket = [0] * len(buckets)
    routes = []
    sums = dict.fromkeys(("sent", "delivered", "completed", "rejected", "lost"), 0)
    for sender, recipient, path, sent, mean_ms, lost, rejected in ROUTES:
        to_arrived, to_completed = Histogram(), Histogram()
        delivered = sent - lost
        for _ in range(delivered):
            arrived_ms = _latency_ms(rng, mean_ms)
            completed_ms = arrived_ms + _latency_ms(rng, 220.0)
            to_arrived.record_us(arrived_ms * 1000)
            to_completed.record_us(completed_ms * 1000)
            stages["send_to_arrived"].record_us(arrived_ms * 1000)
            stages["send_to_completed"].record_us(completed_ms * 1000)
            index = min(int(rng.uniform(0, duration_s) // interval_s), len(buckets) - 1)
            buckets[index].record_us(arrived_ms * 1000)
            arrived_by_bucket[index] += 1
            stages["hop.1"].record_us(_latency_ms(rng, 18.0) * 1000)
            if path == "via_vdxp":
                stages["hop.2"].record_us(_latency_ms(rng, 22.0) * 1000)
            stages["verify"].record_us(rng.uniform(300, 2000))
        hops = {"1": sent} if path == "local" else {"2": sent}
        route = {"route": f"{sender}->{recipient}", "sender_tier": sender,
                 "recipient_tier": recipient, "path": path, "sent": sent,
                 "delivered": delivered, "completed": delivered - rejected,
                 "rejected": rejected, "undeliverable": 0, "lost": lost, "incomplete": 0,
                 "duplicates_absorbed": 0, "recalled": 0, "send_failed": 0, "hops": hops,
                 "mean_hops": 1.0 if path == "local" else 2.0,
                 "send_to_arrived_ms": to_arrived.summary_ms(),
                 "send_to_completed_ms": to_completed.summary_ms()}
        routes.append(route)
        for name in sums:
            sums[name] += route[name]
    for _ in range(documents):
        stages["schedule_lag"].record_us(rng.expovariate(1 / 800))
        stages["sign"].record_us(rng.uniform(120, 400))
        stages["produce_ack"].record_us(_latency_ms(rng, 4.0) * 1000)
    points = []
    for index, bucket in enumerate(buckets[:-1]):
        t_s = index * interval_s
        target = int(rate * interval_s)
        sent = target - (3 if index == 7 else 1)  # one interval falls behind
        errors = 2 if index == 9 else 0
        points.append({"t_s": t_s, "warmup": t_s < warmup_s, "target": target, "sent": sent,
                       "arrived": arrived_by_bucket[index], "completed": arrived_by_bucket[index],
                       "errors": errors, "target_rate": round(target / interval_s, 2),
                       "achieved_rate": round(sent / interval_s, 2),
                       "send_to_arrived_ms": _point_ms(bucket)})
    points.append({"t_s": 60.0, "warmup": False, "target": 0, "sent": 0, "arrived": 0,
                   "completed": 0, "errors": 0, "target_rate": 0.0, "achieved_rate": 0.0,
                   "send_to_arrived_ms": _point_ms(Histogram())})  # the drain: nothing arrived
    personal = documents - 41
    verified = sums["sent"] - sums["lost"]
    personal_valid = verified - 120
    latency = {name: _quantiles_ms(h) for name, h in stages.items()}
    p99 = latency["send_to_arrived"]["p99"]
    p999_completed = latency["send_to_completed"]["p99.9"]
    return {
        "schema_version": 2,
        "run": {"run_id": "run-3f9c1a2b", "started_at": "2025-03-14T02:11:09.412331+00:00",
                "broker": "embedded", "bootstrap": "127.0.0.1:40231", "setup_s": 5.4,
                "recorded": None, "workers": 2,
                "config": {"profiles": ["thanh-hoa", "hai-duong"], "documents": documents,
                           "rate": rate, "signature_algorithm": "ed25519", "seed": 1,
                           "ack_timeout_s": 30.0, "settle_timeout_s": 60.0}},
        "load": {"shape": "constant", "spec": f"constant:{rate:g}", "rate": rate,
                 "peak_rate": rate, "mean_rate": rate, "duration_s": duration_s,
                 "expected_documents": documents, "warmup_s": warmup_s, "workers": 2,
                 "segments_total": 1, "segments": [{"start_s": 0.0, "end_s": 60.0,
                                                    "from_rate": rate, "to_rate": rate}]},
        "topology": {"tiers": list(TIERS), "agencies": 904,
                     "counts_by_tier": {"central": 30, "province": 41, "district": 39,
                                        "commune": 794},
                     "platforms": ["VDXP", "LGSP-H56", "LGSP-H26"]},
        "totals": {"documents": documents, **sums, "undeliverable": 0, "incomplete": 0,
                   "duplicates_absorbed": 0, "recalled": 0, "send_failed": 0,
                   "dead_letters": 0, "refused_at_send": 0, "send_errors": 0,
                   "duration_s": 61.204, "documents_per_s": round(documents / 61.204, 2),
                   "send_duration_s": 60.01, "send_rate_per_s": round(documents / 60.01, 2),
                   "send_to_arrived_ms": stages["send_to_arrived"].summary_ms(),
                   "send_to_completed_ms": stages["send_to_completed"].summary_ms()},
        "signing": {
            "documents": documents, "personal_signed": personal, "agency_signed": documents,
            "both_signed": personal, "personal_share": round(personal / documents, 6),
            "agency_share": 1.0, "both_share": round(personal / documents, 6),
            "verification": {
                "verified": verified, "personal_valid": personal_valid,
                "agency_valid": verified - 4, "legally_valid": personal_valid - 4,
                "personal_valid_share": round(personal_valid / verified, 6),
                "agency_valid_share": round((verified - 4) / verified, 6),
                "legally_valid_share": round((personal_valid - 4) / verified, 6),
                "failures": dict(FAILURES)},
            "sign_cost_us": stages["sign"].summary_us(),
            "verify_cost_us": stages["verify"].summary_us(), "by_tier": {}},
        "routing": {"routes": routes, "by_path": {},
                    "fan_out": {"mean": round(sums["sent"] / documents, 3), "distribution": {}},
                    "platforms": {}},
        "by_tier": {tier: {"documents_sent": 0, "deliveries_addressed": 0,
                           "deliveries_arrived": 0} for tier in TIERS},
        "schedule": {"lag_ms": stages["schedule_lag"].summary_ms()},
        "schemas": {"document_versions_decoded": {"2": verified}},
        "rejections": {"revoked": 3}, "undeliverable_reasons": {}, "dead_letters": {},
        "unexpected_statuses": {}, "refused_at_send": {},
        "faults": FAULTS,
        "latency": latency,
        "series": {"interval_s": interval_s, "warmup_s": float(warmup_s), "points": points},
        "histograms": {name: h.encode() for name, h in stages.items()},
        "slo": [_verdict("p99(send_to_arrived)", "<", 250.0, "ms", p99),
                _verdict("p99.9(send_to_completed)", "<", 300.0, "ms", p999_completed),
                _verdict("lost", "==", 0, "count", float(sums["lost"])),
                _verdict("p99(hop.3)", "<", 100.0, "ms", None)],
    }


# ---------------------------------------------------------------- Chromium and the DOM
@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find(self, **attrs: str) -> Node | None:
        return next((n for n in self.walk()
                     if all(n.attrs.get(k) == v for k, v in attrs.items())), None)

    def by_class(self, name: str) -> list[Node]:
        return [n for n in self.walk() if name in n.classes]


VOID_ELEMENTS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                           "meta", "source", "track", "wbr"})


class _TreeBuilder(HTMLParser):

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID_ELEMENTS:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)


def parse_dom(markup: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


def chromium_binary() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    # not a skip: the HTML report must be proven in a real browser wherever the suite runs
    pytest.fail(f"no headless Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}): "
                "install Debian's 'chromium' package (apt-get install chromium; .ci/run does)")


def open_in_chromium(report: dict[str, Any], workdir: Path) -> tuple[str, Node]:
    """Render ``report``, let headless Chromium run its scripts; (page source, dumped DOM)."""
    page = workdir / "report.html"
    source = render_html(report)
    page.write_text(source, encoding="utf-8")
    command = [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", f"--user-data-dir={workdir / 'profile'}",
               "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    try:
        done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8",
                              timeout=CHROMIUM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"headless Chromium did not finish within {CHROMIUM_TIMEOUT_S} s")
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    assert "<body" in done.stdout, f"no DOM dumped; stderr: {done.stderr[-2000:]}"
    return source, parse_dom(done.stdout)


def _element(dom: Node, element_id: str) -> Node:
    node = dom.find(id=element_id)
    assert node is not None, f"#{element_id} missing from the page"
    return node


def _number_in(text: str) -> float:
    """The figure shown in ``text`` (``3,000``, ``49.02 docs/s``, ``56.4 ms``; ``1.25 s`` is
    1250 ms)."""
    match = re.search(r"(-?[\d,]+(?:\.\d+)?)\s*(s\b)?", text)
    assert match, f"no number in {text!r}"
    value = float(match.group(1).replace(",", ""))
    return value * 1000 if match.group(2) else value


def assert_rendered_cleanly(dom: Node) -> None:
    body = next(n for n in dom.walk() if n.tag == "body")
    errors = _element(dom, "render-errors").all_text().strip()
    assert errors == "", f"the page reported script errors:\n{errors}"
    assert body.attrs.get("data-charts-ready") == "1", "the chart script did not finish"


# ---------------------------------------------------------------- the full report
@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Node]:
    report = realistic_report()
    source, dom = open_in_chromium(report, tmp_path_factory.mktemp("html-report"))
    return report, source, dom


def test_the_page_renders_without_script_errors(full: tuple[dict[str, Any], str, Node]) -> None:
    _, _, dom = full
    assert_rendered_cleanly(dom)


@pytest.mark.parametrize("chart_id", CHART_IDS)
def test_every_chart_draws_its_marks_into_an_svg(
        full: tuple[dict[str, Any], str, Node], chart_id: str) -> None:
    _, _, dom = full
    box = _element(dom, chart_id)
    rendered = int(box.attrs.get("data-rendered") or "-1")
    assert rendered > 0, f"#{chart_id}: data-rendered={box.attrs.get('data-rendered')!r}"
    svgs = [n for n in box.walk() if n.tag == "svg"]
    assert svgs, f"#{chart_id} holds no <svg>"
    marks = [n for svg in svgs for n in svg.by_class("mark")]
    assert len(marks) == rendered, f"#{chart_id}: {len(marks)} marks, data-rendered={rendered}"
    assert all(n.tag in {"circle", "rect"} for n in marks)
    assert not box.by_class("nodata"), f"#{chart_id} says 'no data'"


def test_marks_match_the_data(full: tuple[dict[str, Any], str, Node]) -> None:
    """One mark per data point: the charts draw what the report holds, nothing dropped."""
    report, _, dom = full
    points = report["series"]["points"]

    def rendered(chart_id: str) -> int:
        return int(_element(dom, chart_id).attrs["data-rendered"])

    errors_line = len(points) if any(p["errors"] for p in points) else 0
    assert rendered("chart-rate") == 2 * len(points) + errors_line
    with_arrivals = sum(1 for p in points if p["send_to_arrived_ms"]["count"])
    assert rendered("chart-latency-time") == 3 * with_arrivals
    curves = latency_curves(report)["curves"]
    assert {c["source"] for c in curves.values()} == {"histogram"}
    assert rendered("chart-latency-dist") == sum(len(c["points"]) for c in curves.values())
    pairs = {(r["sender_tier"], r["recipient_tier"]) for r in report["routing"]["routes"]}
    assert rendered("chart-routes") == len(pairs)
    route_marks = {n.attrs["data-route"] for n in _element(dom, "chart-routes").by_class("mark")}
    assert route_marks == {f"{s}->{r}" for s, r in pairs}
    assert rendered("chart-signing") == 6 + len(FAILURES)


def test_latency_curve_follows_the_histogram() -> None:
    """The plotted p99 and max are those of the report's HDR histogram."""
    report = realistic_report()
    curve = latency_curves(report)["curves"]["send_to_arrived"]
    by_label = {label: ms for _, ms, label in curve["points"]}
    assert by_label["p99"] == pytest.approx(report["latency"]["send_to_arrived"]["p99"])
    assert by_label["max"] == pytest.approx(report["latency"]["send_to_arrived"]["max"])
    values = [ms for _, ms, _ in curve["points"]]
    assert values == sorted(values), "a percentile curve never goes down"


def test_header_shows_the_report_figures(full: tuple[dict[str, Any], str, Node]) -> None:
    report, _, dom = full
    totals, latency = report["totals"], report["latency"]["send_to_arrived"]
    assert _element(dom, "run-id").all_text() == report["run"]["run_id"]
    expected = {"documents": totals["documents"], "sent": totals["sent"],
                "delivered": totals["delivered"], "lost": totals["lost"],
                "documents_per_s": totals["documents_per_s"], "p50": latency["p50"],
                "p99": latency["p99"], "p99-9": latency["p99.9"]}
    for key, value in expected.items():
        kpi = _element(dom, f"kpi-{key}")
        assert float(kpi.attrs["data-value"]) == pytest.approx(value), key
        shown = kpi.by_class("kpi-value")[0].all_text()
        assert _number_in(shown) == pytest.approx(value, rel=0.01, abs=0.01), (key, shown)


def test_slo_and_load_are_shown(full: tuple[dict[str, Any], str, Node]) -> None:
    report, _, dom = full
    rows = [n for n in _element(dom, "slo-table").walk() if n.tag == "tr"][1:]
    assert len(rows) == len(report["slo"])
    verdicts = []
    for row, verdict in zip(rows, report["slo"], strict=True):
        text = row.all_text()
        assert verdict["expression"] in text
        verdicts.append(row.by_class("badge")[0].all_text())
    assert verdicts == ["PASS", "FAIL", "FAIL", "NO DATA"]  # the fixture's four gates
    assert "3 of 4 failed" in _element(dom, "slo").all_text()
    load = _element(dom, "load").all_text()
    assert "constant:50" in load
    assert "warmup s" in load
    assert "start_s" not in load  # the segments are counted, not dumped


def test_the_page_needs_no_network(full: tuple[dict[str, Any], str, Node]) -> None:
    _, source, _ = full
    assert 'http-equiv="Content-Security-Policy"' in source
    assert "default-src 'none'" in source
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", source))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert not re.search(r"<(?:link|img|iframe)\b|\bsrc=", source)
    assert '<meta charset="utf-8">' in source


# ---------------------------------------------------------------- sparse reports
def _without_series_and_histograms() -> dict[str, Any]:
    report = realistic_report()
    del report["series"], report["histograms"], report["latency"]
    report["run"]["run_id"] = "run-hải-dương"
    report["topology"]["platforms"] = ["VDXP", HOSTILE]
    report["rejections"] = {HOSTILE: 3}
    return report


def _nothing_sent() -> dict[str, Any]:
    report = realistic_report()
    report["series"]["points"] = []
    report["histograms"] = dict.fromkeys(report["histograms"], "")
    report["latency"] = {name: {"count": 0, "mean": 0.0, "p50": 0, "p90": 0, "p99": 0,
                                "p99.9": 0, "p99.99": 0, "max": 0} for name in report["latency"]}
    report["totals"]["send_to_arrived_ms"] = report["totals"]["send_to_completed_ms"] = {
        "count": 0, "p50": 0, "p90": 0, "p99": 0, "p999": 0, "max": 0}
    report["routing"]["routes"] = []
    report["signing"]["documents"] = 0
    report.pop("slo")
    report.pop("load")
    return report


@pytest.mark.parametrize(("build", "empty_charts"), [
    pytest.param(_without_series_and_histograms, {"chart-rate", "chart-latency-time"},
                 id="no-series-no-histograms"),
    pytest.param(_nothing_sent, set(CHART_IDS), id="nothing-sent"),
])
def test_a_sparse_report_still_renders(build: Callable[[], dict[str, Any]], empty_charts: set[str],
                                       tmp_path: Path) -> None:
    report = build()
    _, dom = open_in_chromium(report, tmp_path)
    assert_rendered_cleanly(dom)
    for chart_id in CHART_IDS:
        box = _element(dom, chart_id)
        if chart_id in empty_charts:
            assert box.attrs.get("data-rendered") == "0", chart_id
            notes = box.by_class("nodata")
            assert notes, f"#{chart_id} shows no 'no data' message"
            assert notes[0].all_text().startswith("no data")
            assert not [n for n in box.walk() if n.tag == "svg"]
        else:
            assert int(box.attrs.get("data-rendered") or "0") > 0, chart_id
    if "chart-latency-dist" not in empty_charts:  # plotted from the summary quantiles
        assert "summary quantiles" in _element(dom, "chart-latency-dist").all_text()
    assert report["run"]["run_id"] == _element(dom, "run-id").all_text()  # UTF-8 intact
    if report["topology"]["platforms"][-1] == HOSTILE:  # escaped, shown as text, never run
        assert HOSTILE in dom.all_text()
        assert "pwned" not in "".join(n.all_text() for n in dom.walk() if n.tag == "title")
        assert sum(1 for n in dom.walk() if n.tag == "script") == 3


# ---------------------------------------------------------------- without a browser
def test_embedded_data_round_trips_and_cannot_close_its_script_tag() -> None:
    report = _without_series_and_histograms()
    source = render_html(report)
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                      source, re.DOTALL)
    assert match, "no embedded report data"
    assert "<" not in match.group(1)
    data = json.loads(match.group(1))
    assert data["report"]["rejections"] == {HOSTILE: 3}
    assert data["report"]["run"]["run_id"] == "run-hải-dương"
    assert "state" not in data["report"]


def test_curves_fall_back_to_summaries_and_skip_empty_stages() -> None:
    report = realistic_report()
    del report["histograms"]
    curves = latency_curves(report)["curves"]
    assert {c["source"] for c in curves.values()} == {"summary"}
    labels = [label for _, _, label in curves["send_to_arrived"]["points"]]
    assert labels == ["p50", "p90", "p99", "p99.9", "max"]  # 6,000 values: no p99.99 point
    empty = copy.deepcopy(report)
    empty["latency"] = {}
    empty["totals"]["send_to_arrived_ms"] = {"count": 0}
    empty["totals"]["send_to_completed_ms"] = {"count": 0}
    assert latency_curves(empty)["curves"] == {}


def test_renders_what_build_report_writes() -> None:
    """The renderer reads the report the simulator builds (not only the fixture's copy of it)."""
    rng = random.Random(3)
    metrics = RunMetrics(series=IntervalSeries(interval_s=1.0, warmup_s=1.0))
    for route, n in ((Route("province", "district", LOCAL), 400),
                     (Route("commune", "central", VIA_VDXP), 100)):
        stats = metrics.route(route)
        stats.sent = stats.delivered = stats.completed = n
        stats.hops[1 if route.path == LOCAL else 2] += n
        for i in range(n):
            latency_us = rng.lognormvariate(math.log(60_000), 0.3)
            stats.send_to_arrived.record_us(latency_us)
            stats.send_to_completed.record_us(latency_us * 3)
            at_ns = int(i / n * 5e9)
            metrics.series.count("target", at_ns)
            metrics.series.count("sent", at_ns)
            metrics.series.arrived(at_ns, int(latency_us * 1000))
    metrics.signing.documents = metrics.signing.agency_signed = 250
    report = build_report(metrics, run={"run_id": "run-built", "config": {}},
                          topology={"tiers": list(TIERS)}, duration_s=5.2, send_duration_s=5.0)
    curves = latency_curves(report)["curves"]
    assert {name: c["source"] for name, c in curves.items()} == {
        "send_to_arrived": "histogram", "send_to_completed": "histogram"}
    assert curves["send_to_arrived"]["count"] == 500
    source = render_html(report)
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                      source, re.DOTALL)
    assert match
    series = json.loads(match.group(1))["report"]["series"]
    assert [p["warmup"] for p in series["points"]] == [True, False, False, False, False]
    assert all(p["send_to_arrived_ms"]["count"] for p in series["points"])


def test_injected_faults_are_shown_with_what_was_missed(
        full: tuple[dict[str, Any], str, Node]) -> None:
    _, _, dom = full
    rows = [n for n in _element(dom, "faults-table").walk()
            if n.tag == "tr" and "data-kind" in n.attrs]
    assert [r.attrs["data-kind"] for r in rows] == ["revoked-certificate", "dropped-status"]
    cells = [[c.all_text() for c in r.walk() if c.tag == "td"] for r in rows]
    assert cells[0][2:5] == ["4", "4", "0"]
    assert cells[1][2:5] == ["3", "2", "1"]
    assert cells[1][5] == "missing status 2"
    missed = [c for c in rows[1].walk() if c.tag == "td"][4]
    assert "bad" in missed.attrs.get("class", "")
    summary = _element(dom, "faults").by_class("badge")[0]
    assert "badge-fail" in summary.attrs["class"]
    assert "6 of 7 detected (85.71%)" in summary.all_text()
    assert "02 bad_signature 1" in summary.all_text()


# ---------------------------------------------------------------- what the page says (issue 17)
def _heat(t: float) -> str:
    """charts.js ``heat``: pale green at 0, pale yellow at 0.5, pale red at 1."""
    stops = [(218, 242, 222), (255, 240, 190), (255, 200, 190)]
    i, u = (0, t * 2) if t < 0.5 else (1, (t - 0.5) * 2)
    return "rgb(" + ",".join(str(round(a + (b - a) * u))
                             for a, b in zip(stops[i], stops[i + 1], strict=True)) + ")"


def _cell_fills(dom: Node) -> dict[str, str]:
    return {n.attrs["data-route"]: n.attrs["fill"]
            for n in _element(dom, "chart-routes").by_class("mark")}


def _worst_p99(report: dict[str, Any]) -> dict[str, float]:
    worst: dict[str, float] = {}
    for r in report["routing"]["routes"]:
        key = f"{r['sender_tier']}->{r['recipient_tier']}"
        worst[key] = max(worst.get(key, 0.0), r["send_to_arrived_ms"]["p99"])
    return worst


def test_route_colours_are_against_the_p99_gate(full: tuple[dict[str, Any], str, Node]) -> None:
    """A pair well within the 250 ms gate is not red just for being the run's slowest."""
    report, _, dom = full
    box = _element(dom, "chart-routes")
    assert box.attrs["data-scale"] == "gate"
    assert "p99(send_to_arrived) < 250ms" in _element(dom, "route-scale").all_text()
    fills = _cell_fills(dom)
    for pair, p99 in _worst_p99(report).items():
        assert fills[pair] == _heat(min(p99 / 250.0, 1.0)), (pair, p99)
    assert max(_worst_p99(report).values()) < 250  # so no cell is the red of the threshold
    assert _heat(1.0) not in fills.values()


def test_without_a_gate_the_route_colours_say_they_are_relative(tmp_path: Path) -> None:
    report = realistic_report()
    report["slo"] = [v for v in report["slo"] if v["metric"] != "p99(send_to_arrived)"]
    _, dom = open_in_chromium(report, tmp_path)
    assert_rendered_cleanly(dom)
    assert _element(dom, "chart-routes").attrs["data-scale"] == "relative"
    assert "relative to this run" in _element(dom, "route-scale").all_text()
    worst = _worst_p99(report)
    slowest = max(worst, key=worst.__getitem__)
    assert _cell_fills(dom)[slowest] == _heat(1.0)


def test_the_latency_table_says_which_stages_leave_the_warm_up_out(
        full: tuple[dict[str, Any], str, Node]) -> None:
    """The terminal explained it; the HTML table said "warm-up excluded" for every row."""
    report, _, dom = full
    shown = {}
    for row in _element(dom, "latency-table").walk():
        if row.tag == "tr" and "data-stage" in row.attrs:
            shown[row.attrs["data-stage"]] = row.by_class("warmup")[0].all_text()
    assert shown == {name: ("included" if name in ("schedule_lag", "sign", "verify") else
                            "excluded" if not name.startswith("hop.") or name in (
                                "hop.submit", "hop.deliver") else "?")
                     for name in report["latency"]}
    hint = _element(dom, "latency-warmup").all_text()
    assert "schedule lag and the sign and verify costs cover every document" in hint


def test_a_workday_rate_chart_shows_the_shape_over_the_whole_schedule(tmp_path: Path) -> None:
    """A workday is drawn as its scheduled curve and the axis runs to the schedule's end (the
    quiet evening included), not as the few intervals that had traffic."""
    report = realistic_report()
    segments = [{"start_s": 0.0, "end_s": 6.0, "from_rate": 0.0, "to_rate": 0.0},
                {"start_s": 6.0, "end_s": 8.0, "from_rate": 0.0, "to_rate": 50.0},
                {"start_s": 8.0, "end_s": 14.0, "from_rate": 50.0, "to_rate": 10.0},
                {"start_s": 14.0, "end_s": 120.0, "from_rate": 0.0, "to_rate": 0.0}]
    report["load"].update({"shape": "workday", "spec": "workday", "duration_s": 120,
                           "segments_total": len(segments), "segments": segments})
    _, dom = open_in_chromium(report, tmp_path)
    assert_rendered_cleanly(dom)
    chart = _element(dom, "chart-rate")
    assert "scheduled (workday)" in chart.all_text()
    ticks = [float(n.all_text()) for n in chart.by_class("tick")
             if re.fullmatch(r"\d+(\.\d+)?", n.all_text())]
    assert max(ticks) >= 120


# ---------------------------------------------------------------- system under test
def test_the_system_under_test_card_shows_each_check_and_example(tmp_path: Path) -> None:
    """--external: the card names the party, each failing check with its count and first
    example, the fault kinds; rendered in Chromium without script errors."""
    from consumers.tracker import DeliveryTracker
    from lgsp.domain import Document, Signer, StatusCode, StatusEvent
    from lgsp.domain.status import StatusLayer
    from lgsp.metrics.conformance_report import conformance_report
    from lgsp.profiles import load_topology

    party = "000.00.01.H56"
    tracker = DeliveryTracker(load_topology(["thanh-hoa"]), RunMetrics(),
                              external=frozenset({party}))
    tracker.expect(Document(document_id=HOSTILE, number=1, notation="1/UBND",
                            type_name="công văn", subject="s", sender="000.00.00.H56",
                            recipients=(party,), promulgation_place="Thanh Hóa",
                            promulgation_date=dt.date(2026, 1, 1),
                            signer=Signer("", "Chủ tịch", "A")), intended_ns=0)
    tracker.on_status(StatusEvent(layer=StatusLayer.BUSINESS, from_code=party,
                                  document_id=HOSTILE, sender="000.00.00.H56", recipient=party,
                                  timestamp=dt.datetime.now(dt.UTC),
                                  status_code=StatusCode.REGISTERED), 1)
    report = realistic_report()
    report["system_under_test"] = conformance_report(tracker.metrics, {party: 1.5})
    _, dom = open_in_chromium(report, tmp_path)
    assert_rendered_cleanly(dom)
    card = _element(dom, "system-under-test")
    text = card.all_text()
    assert "1 conformance failure(s)" in text
    assert party in text
    assert "answered its probe after 1.5 s" in text
    failing = [row for row in card.walk() if row.tag == "tr"
               and row.attrs.get("data-check") == "first_status_01"]
    (row,) = failing
    assert HOSTILE in row.all_text()  # escaped, shown as text
    assert "came 03" in row.all_text()


def test_forged_statuses_are_among_the_problems() -> None:
    """--status-seals: each forged status reason and status is a row of "Problems by reason",
    the injected ones said in the group's name."""
    from tests.metrics.test_report_schema import _report

    source = render_html(_report(1, "1/1"))
    problems = source[source.index('id="problems"'):]
    problems = problems[:problems.index("</section>")]
    assert "forged statuses (seal), 1 injected" in problems
    assert "sealed_by_other 06" in problems
    assert "unsealed 01" in problems
