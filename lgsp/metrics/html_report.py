"""The run report as one self-contained HTML page: header figures, SLO verdicts and SVG charts.

``render_html(report)`` returns a single file that needs no network: CSS and vanilla JavaScript
are inline (a Content-Security-Policy forbids every fetch), and the JavaScript draws the charts as
SVG from the report data embedded in a ``<script type="application/json">`` tag. The figures that
must be readable without JavaScript (header, SLO table, load, latency table) are rendered here.

The latency-distribution curves are computed here from the base64 HDR histograms of the report
(``histograms``); without them the summary quantiles (``latency`` or ``totals``) are plotted.

Every chart container (``chart-rate``, ``chart-latency-time``, ``chart-latency-dist``,
``chart-routes``, ``chart-signing``) gets ``data-rendered="N"`` (N data marks drawn; 0 with a
visible "no data" message); then ``body[data-charts-ready="1"]``. Script errors are shown in
``#render-errors``.
"""

from __future__ import annotations

import functools
import html
import json
import math
import zlib
from importlib import resources
from typing import Any

from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException
from hdrh.histogram import HdrHistogram

from lgsp.metrics.html_system_under_test import system_under_test_section
from lgsp.metrics.stages import Stage, stage_label

CHART_IDS = ("chart-rate", "chart-latency-time", "chart-latency-dist", "chart-routes",
             "chart-signing")
CURVE_STAGES = {Stage.SEND_TO_ARRIVED.value: "send → arrived (01)",
                Stage.SEND_TO_COMPLETED.value: "send → completed (06)"}
_CURVE_STEP = 0.05
"""Spacing of the curve points on the x axis, in decades of 1 / (1 - percentile)."""
_CURVE_MAX_DECADES = 6.0
"""The curve stops at 99.9999 %; beyond, the max."""
_MAX_GAP = 0.5
"""Where the max sits after the last decade of the longest curve."""
_DECODE_ERRORS = (ValueError, TypeError, RuntimeError, zlib.error, HdrCookieException,
                  HdrLengthException, HdrHistogramSettingsException)
_DROPPED_FROM_EMBED = ("state", "histograms")
"""Bulky and not drawn: the metrics state (for merging) and the raw histograms (their curves are
embedded instead)."""


# ---------------------------------------------------------------- latency distribution curves
def _percentile_label(x: float) -> str:
    p = 100.0 * (1.0 - 10.0 ** -x)
    text = f"{p:.{int(x) + 1}f}".rstrip("0").rstrip(".")
    return f"p{text}"


def _curve_from_histogram(encoded: str) -> tuple[list[list[Any]], int, float] | None:
    """(points [x, ms, label], count, max ms) from a base64 HDR histogram in microseconds."""
    try:
        histogram = HdrHistogram.decode(encoded)
    except _DECODE_ERRORS:
        return None
    count = int(histogram.get_total_count())
    if count <= 0:
        return None
    end = min(math.log10(count), _CURVE_MAX_DECADES)
    xs = [round(i * _CURVE_STEP, 4) for i in range(int(end / _CURVE_STEP + 1e-9) + 1)]
    wanted = [100.0 * (1.0 - 10.0 ** -x) for x in xs]
    values = histogram.get_percentile_to_value_dict(wanted)
    points = [[x, round(values[p] / 1000, 3), _percentile_label(x)] for x, p in zip(
        xs, wanted, strict=True)]
    return points, count, round(histogram.get_max_value() / 1000, 3)


_SUMMARY_KEYS = ((math.log10(2), ("p50",)), (1.0, ("p90",)), (2.0, ("p99",)),
                 (3.0, ("p99.9", "p999")), (4.0, ("p99.99", "p9999")))


def _curve_from_summary(summary: dict[str, Any]) -> tuple[list[list[Any]], int, float] | None:
    count = _number(summary.get("count"))
    if not count or count <= 0:
        return None
    end = min(math.log10(count), _CURVE_MAX_DECADES)
    points: list[list[Any]] = []
    for x, keys in _SUMMARY_KEYS:
        if x > end + 1e-9:
            break
        value = next((_number(summary.get(k)) for k in keys if _number(summary.get(k)) is not None),
                     None)
        if value is not None:
            points.append([round(x, 4), value, f"p{keys[0][1:]}"])
    max_ms = _number(summary.get("max"))
    if max_ms is None:
        if not points:
            return None
        max_ms = points[-1][1]
    return points, int(count), max_ms


def latency_curves(report: dict[str, Any]) -> dict[str, Any]:
    """The percentile curves of ``send_to_arrived`` and ``send_to_completed`` (HdrHistogram plot
    style: x = log10(1 / (1 - percentile)), so 90 % is 1, 99 % is 2, ...; the max at ``max_x``).

    Each curve: ``label``, ``source`` (``histogram`` or ``summary``), ``count`` and ``points``
    ``[x, ms, label]`` ending with the max. Stages with no data are left out."""
    histograms = report.get("histograms") or {}
    latency = report.get("latency") or {}
    totals = report.get("totals") or {}
    found: dict[str, tuple[str, tuple[list[list[Any]], int, float]]] = {}
    for name in CURVE_STAGES:
        encoded = histograms.get(name) if isinstance(histograms, dict) else None
        curve = _curve_from_histogram(encoded) if isinstance(encoded, str) and encoded else None
        if curve is not None:
            found[name] = ("histogram", curve)
            continue
        for summary in (latency.get(name), totals.get(f"{name}_ms")):
            curve = _curve_from_summary(summary) if isinstance(summary, dict) else None
            if curve is not None:
                found[name] = ("summary", curve)
                break
    last = max((points[-1][0] for _, (points, _, _) in found.values() if points), default=0.0)
    max_x = round(max(last, 1.0) + _MAX_GAP, 4)
    curves = {}
    for name, (source, (points, count, max_ms)) in found.items():
        curves[name] = {"label": CURVE_STAGES[name], "source": source, "count": count,
                        "points": [*points, [max_x, max_ms, "max"]]}
    return {"max_x": max_x, "curves": curves}


# ---------------------------------------------------------------- formatting
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt_int(value: Any) -> str:
    number = _number(value)
    return "–" if number is None else f"{round(number):,}"


def fmt_ms(value: Any) -> str:
    """A latency for people: ``56.35 ms``, ``131.3 ms``, ``1.25 s``."""
    number = _number(value)
    if number is None:
        return "–"
    magnitude = abs(number)
    if magnitude >= 10_000:
        return f"{number / 1000:,.1f} s"
    if magnitude >= 1000:
        return f"{number / 1000:.2f} s"
    if magnitude >= 100:
        return f"{number:.0f} ms"
    if magnitude >= 10:
        return f"{number:.1f} ms"
    return f"{number:.2f} ms"


def _fmt_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return ", ".join(_fmt_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt_value(v)}" for k, v in value.items())
    return str(value)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (``JSON.parse`` rejects them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def embed_json(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` (so no
    ``</script>`` nor ``<!--``), escaped as ``\\u003c`` etc., which ``JSON.parse`` reads back."""
    text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ---------------------------------------------------------------- server-side sections
def headline_latency(report: dict[str, Any]) -> dict[str, float | None]:
    """p50 / p99 / p99.9 of send → arrived, ms: from ``latency`` (the whole-run quantiles),
    else from ``totals.send_to_arrived_ms``."""
    latency = (report.get("latency") or {}).get(Stage.SEND_TO_ARRIVED) or {}
    totals = (report.get("totals") or {}).get("send_to_arrived_ms") or {}
    out: dict[str, float | None] = {}
    for key, keys in (("p50", ("p50",)), ("p99", ("p99",)), ("p99.9", ("p99.9", "p999"))):
        out[key] = next((_number(src.get(k)) for src in (latency, totals) for k in keys
                         if _number(src.get(k)) is not None), None)
    return out


def route_gate(report: dict[str, Any]) -> dict[str, Any] | None:
    """The ``p99(send_to_arrived) <`` gate of the run (``threshold_ms``, ``expression``): the
    route matrix colours against it; None when the run has none."""
    for verdict in report.get("slo") or []:
        if (isinstance(verdict, dict) and verdict.get("metric") == "p99(send_to_arrived)"
                and verdict.get("op") in ("<", "<=") and verdict.get("unit") == "ms"
                and (threshold := _number(verdict.get("threshold")))):
            return {"threshold_ms": threshold, "expression": str(verdict.get("expression"))}
    return None


def _kpi(key: str, label: str, value: Any, shown: str, *, unit: str = "",
         tone: str = "") -> str:
    data_value = "" if value is None else _e(value)
    tone_class = f" kpi-{tone}" if tone else ""
    unit_html = f'<span class="kpi-unit">{_e(unit)}</span>' if unit else ""
    return (f'<div class="kpi{tone_class}" id="kpi-{_e(key)}" data-key="{_e(key)}" '
            f'data-value="{data_value}"><div class="kpi-label">{_e(label)}</div>'
            f'<div class="kpi-value">{_e(shown)}{unit_html}</div></div>')


def _header(report: dict[str, Any]) -> str:
    run = report.get("run") or {}
    config = run.get("config") or {}
    topology = report.get("topology") or {}
    totals = report.get("totals") or {}
    facts = [
        ("started", run.get("started_at")),
        ("broker", " ".join(str(x) for x in (run.get("broker"), run.get("bootstrap")) if x)),
        ("profiles", ", ".join(str(p) for p in config.get("profiles") or []) or None),
        ("agencies", topology.get("agencies")),
        ("platforms", ", ".join(str(p) for p in topology.get("platforms") or []) or None),
        ("signature", config.get("signature_algorithm")),
        ("seed", config.get("seed")),
        ("workers", run.get("workers")),
        ("host shard", run.get("host_shard")),
        ("schedule start → settled", f"{totals['duration_s']:g} s"
         if _number(totals.get("duration_s"))
         is not None else None),
        ("report schema", report.get("schema_version")),
    ]
    facts_html = "".join(f'<span class="fact"><span class="fact-k">{_e(k)}</span> '
                         f'<span class="fact-v">{_e(_fmt_value(v))}</span></span>'
                         for k, v in facts if v not in (None, ""))
    latency = headline_latency(report)
    lost = totals.get("lost")
    kpis = [
        _kpi("documents", "Documents", totals.get("documents"), _fmt_int(totals.get("documents"))),
        _kpi("sent", "Deliveries sent", totals.get("sent"), _fmt_int(totals.get("sent"))),
        _kpi("delivered", "Delivered (01)", totals.get("delivered"),
             _fmt_int(totals.get("delivered")), tone="good"),
        _kpi("completed", "Completed (06)", totals.get("completed"),
             _fmt_int(totals.get("completed"))),
        _kpi("rejected", "Rejected (02)", totals.get("rejected"),
             _fmt_int(totals.get("rejected")), tone="bad" if totals.get("rejected") else ""),
        _kpi("lost", "Lost", lost, _fmt_int(lost), tone="bad" if lost else "good"),
        _kpi("documents_per_s", "Throughput", totals.get("documents_per_s"),
             "–" if _number(totals.get("documents_per_s")) is None
             else f"{totals['documents_per_s']:,.2f}", unit=" docs/s"),
        _kpi("p50", "p50 send → arrived", latency["p50"], fmt_ms(latency["p50"])),
        _kpi("p99", "p99 send → arrived", latency["p99"], fmt_ms(latency["p99"])),
        _kpi("p99-9", "p99.9 send → arrived", latency["p99.9"], fmt_ms(latency["p99.9"])),
    ]
    warning = run.get("merge_warning")
    stopped = run.get("stopped_early")
    notes = ""
    if stopped:
        notes += ('<p class="note note-bad">The run was interrupted: the figures cover what was '
                  'done before the stop.</p>')
    if warning:
        notes += f'<p class="note note-bad">{_e(warning)}</p>'
    return (f'<header class="top"><div class="title-row"><h1>LGSP run report</h1>'
            f'<span class="run-id" id="run-id">{_e(run.get("run_id", "?"))}</span></div>'
            f'<div class="facts">{facts_html}</div>{notes}'
            f'<div class="kpis" id="kpis">{"".join(kpis)}</div></header>')


def _slo_value(value: Any, unit: Any) -> str:
    number = _number(value)
    if number is None:
        return "no data" if value is None else _fmt_value(value)
    if unit == "ms":
        return fmt_ms(number)
    if unit == "share":
        return f"{number * 100:.3g} %"
    if unit == "per_s":
        return f"{number:,.6g} /s"
    return _fmt_value(value)


def _slo_section(report: dict[str, Any]) -> str:
    slo = report.get("slo")
    if not slo or not isinstance(slo, list):
        return ""
    rows = []
    failed = 0
    for verdict in slo:
        if not isinstance(verdict, dict):
            continue
        passed = bool(verdict.get("passed"))
        failed += not passed
        unit = verdict.get("unit")
        label = "PASS" if passed else ("NO DATA" if verdict.get("actual") is None else "FAIL")
        reason = verdict.get("reason")
        reason_html = f'<div class="slo-reason">{_e(reason)}</div>' if reason else ""
        rows.append(
            f'<tr class="{"pass" if passed else "fail"}">'
            f'<td><span class="mono">{_e(verdict.get("expression", "?"))}</span>{reason_html}'
            f'</td><td class="num" data-value="{_e(verdict.get("actual"))}">'
            f'{_e(_slo_value(verdict.get("actual"), unit))}</td>'
            f'<td class="num">{_e(_slo_value(verdict.get("threshold"), unit))}</td>'
            f'<td><span class="badge {"badge-pass" if passed else "badge-fail"}">{label}</span>'
            f'</td></tr>')
    summary = (f'<span class="badge badge-fail">{failed} of {len(rows)} failed</span>' if failed
               else f'<span class="badge badge-pass">all {len(rows)} passed</span>')
    return (f'<section class="card" id="slo"><h2>Service-level objectives {summary}</h2>'
            f'<table class="data" id="slo-table"><thead><tr><th>objective</th>'
            f'<th class="num">actual</th><th class="num">threshold</th><th>verdict</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></section>')


def _load_section(report: dict[str, Any]) -> str:
    load = report.get("load")
    if not load or not isinstance(load, dict):
        return ""
    items = []
    for key, value in load.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            if f"{key}_total" in load:
                continue  # e.g. the segments of a shaped load: their number is shown
            value = f"{len(value)} {key}"
        items.append(f'<div class="kv"><dt>{_e(str(key).replace("_", " "))}</dt>'
                     f'<dd>{_e(_fmt_value(value))}</dd></div>')
    return (f'<section class="card" id="load"><h2>Load</h2>'
            f'<dl class="kvs">{"".join(items)}</dl></section>')


def _stage_label(name: str) -> str:
    return stage_label(name)


def _latency_section(report: dict[str, Any]) -> str:
    latency = report.get("latency")
    if not isinstance(latency, dict) or not latency:
        totals = report.get("totals") or {}
        latency = {name: totals[f"{name}_ms"] for name in CURVE_STAGES
                   if isinstance(totals.get(f"{name}_ms"), dict)}
    if not latency:
        return ""
    columns = (("count", ("count",)), ("mean", ("mean",)), ("p50", ("p50",)), ("p90", ("p90",)),
               ("p99", ("p99",)), ("p99.9", ("p99.9", "p999")), ("p99.99", ("p99.99", "p9999")),
               ("max", ("max",)))
    rows = []
    for name, summary in latency.items():
        if not isinstance(summary, dict):
            continue
        cells = []
        for column, keys in columns:
            value = next((summary[k] for k in keys if k in summary), None)
            shown = _fmt_int(value) if column == "count" else (
                "–" if not summary.get("count") else fmt_ms(value))
            cells.append(f'<td class="num">{_e(shown)}</td>')
        warmup = _warmup_cell(name)
        rows.append(f'<tr data-stage="{_e(name)}"><td>{_e(_stage_label(name))}</td>'
                    f'<td class="warmup">{_e(warmup)}</td>{"".join(cells)}</tr>')
    head = "".join(f'<th class="num">{_e(c)}</th>' for c, _ in columns)
    warmup_s = _number(((report.get("run") or {}).get("config") or {}).get("warmup_s"))
    warmup = (f"the warm-up ({warmup_s:g} s)" if warmup_s else "the warm-up (none in this run)")
    return (f'<section class="card" id="latency"><h2>Latency by stage</h2>'
            f'<p class="hint" id="latency-warmup">Whole run; milliseconds unless shown in s. '
            f'The latencies leave out the documents intended in {_e(warmup)}; the schedule '
            f'lag and the sign and verify costs cover every document (column "warm-up").</p>'
            f'<table class="data" id="latency-table"><thead><tr><th>stage</th>'
            f'<th>warm-up</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'</section>')


def _warmup_cell(name: str) -> str:
    """Whether a stage's figures leave the warm-up out (a stage unknown to this version: ?)."""
    try:
        return "excluded" if Stage(name).warmup_excluded else "included"
    except ValueError:
        return "?"


def _by_tier_section(report: dict[str, Any]) -> str:
    by_tier = report.get("by_tier")
    if not isinstance(by_tier, dict) or not by_tier:
        return ""
    rows = "".join(
        f'<tr><td>{_e(tier)}</td><td class="num">{_e(_fmt_int(v.get("documents_sent")))}</td>'
        f'<td class="num">{_e(_fmt_int(v.get("deliveries_addressed")))}</td>'
        f'<td class="num">{_e(_fmt_int(v.get("deliveries_arrived")))}</td></tr>'
        for tier, v in by_tier.items() if isinstance(v, dict))
    return (f'<section class="card half" id="by-tier"><h2>By tier</h2>'
            f'<table class="data"><thead><tr><th>tier</th><th class="num">documents sent</th>'
            f'<th class="num">deliveries addressed</th><th class="num">arrived (01)</th></tr>'
            f'</thead><tbody>{rows}</tbody></table></section>')


def _problems_section(report: dict[str, Any]) -> str:
    failures = ((report.get("signing") or {}).get("verification") or {}).get("failures") or {}
    groups = (("rejections (02)", report.get("rejections")),
              ("undeliverable (transport FAIL)", report.get("undeliverable_reasons")),
              ("dead letters", report.get("dead_letters")),
              ("unexpected statuses", report.get("unexpected_statuses")),
              ("refused at send", report.get("refused_at_send")),
              ("verification failures", failures))
    rows = "".join(
        f'<tr><td>{_e(group)}</td><td class="mono">{_e(reason)}</td>'
        f'<td class="num">{_e(_fmt_int(n))}</td></tr>'
        for group, counts in groups if isinstance(counts, dict) for reason, n in counts.items())
    rows += _forged_rows(report.get("forged_statuses"))
    body = (f'<table class="data"><thead><tr><th>what</th><th>reason</th>'
            f'<th class="num">count</th></tr></thead><tbody>{rows}</tbody></table>' if rows else
            '<p class="ok-line">No rejections, undeliverable deliveries, dead letters, '
            'unexpected or forged statuses or verification failures.</p>')
    return f'<section class="card half" id="problems"><h2>Problems by reason</h2>{body}</section>'


def _forged_rows(forged: Any) -> str:
    """Forged statuses (``--status-seals``) by reason and status; the ones the forged-status
    fault sent on purpose are said in the group's name."""
    if not isinstance(forged, dict) or not forged.get("forged"):
        return ""
    injected = forged.get("injected") or 0
    group = "forged statuses (seal)" + (f", {_fmt_int(injected)} injected" if injected else "")
    return "".join(
        f'<tr class="forged"><td>{_e(group)}</td><td class="mono">{_e(f"{reason} {label}")}</td>'
        f'<td class="num">{_e(_fmt_int(n))}</td></tr>'
        for reason, by in (forged.get("by_reason") or {}).items() if isinstance(by, dict)
        for label, n in by.items())


def _faults_section(report: dict[str, Any]) -> str:
    """``--inject``: per fault kind, injected / detected / missed and by which check."""
    faults = report.get("faults")
    if not isinstance(faults, dict) or not faults.get("kinds"):
        return ""
    rows = []
    for kind in faults["kinds"]:
        by = ", ".join(f"{how} {_fmt_int(n)}" for how, n in (kind.get("by") or {}).items())
        if kind.get("also_dead_lettered"):
            by += " (+ dead-letter)"
        missed = kind.get("missed") or 0
        unexpected_check = "" if kind.get("as_expected") else ' class="warn"'
        rows.append(
            f'<tr data-kind="{_e(kind.get("kind"))}"><td class="mono">{_e(kind.get("kind"))}</td>'
            f'<td>{_e(kind.get("unit"))}</td>'
            f'<td class="num">{_e(_fmt_int(kind.get("injected")))}</td>'
            f'<td class="num">{_e(_fmt_int(kind.get("detected")))}</td>'
            f'<td class="num{" bad" if missed else ""}">{_e(_fmt_int(missed))}</td>'
            f'<td{unexpected_check}>{_e(by or "–")}</td>'
            f'<td>{_e(kind.get("expected"))}</td></tr>')
    share = _number(faults.get("detection_share"))
    false_positives = faults.get("false_positives") or {}
    complete = share == 1.0 and not false_positives
    summary = (f'{_fmt_int(faults.get("detected"))} of {_fmt_int(faults.get("injected"))} '
               f'detected' + (f" ({share:.2%})" if share is not None else "")
               + "; false positives on clean traffic: "
               + (", ".join(f"{k} {_fmt_int(n)}" for k, n in false_positives.items())
                  if false_positives else "none"))
    badge = "badge-pass" if complete else "badge-fail"
    return (f'<section class="card" id="faults"><h2>Injected faults '
            f'<span class="badge {badge}">{_e(summary)}</span></h2>'
            '<p class="hint">Faults committed by the simulated parties (--inject) and caught by '
            "the bus's own checks; a fault is detected once every delivery it concerns was.</p>"
            '<table class="data" id="faults-table"><thead><tr><th>kind</th><th>unit</th>'
            '<th class="num">injected</th><th class="num">detected</th>'
            '<th class="num">missed</th><th>detected by</th><th>expected</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _chart_card(chart_id: str, title: str, hint: str, *, wide: bool = True) -> str:
    return (f'<section class="card{"" if wide else " half"}"><h2>{_e(title)}</h2>'
            f'<p class="hint">{_e(hint)}</p>'
            f'<div class="chart" id="{chart_id}" data-rendered=""></div></section>')


def render_html(report: dict[str, Any]) -> str:
    """The report as one offline HTML page (UTF-8)."""
    run_id = (report.get("run") or {}).get("run_id", "?")
    embedded = {k: v for k, v in report.items() if k not in _DROPPED_FROM_EMBED}
    data = {"report": embedded, "distribution": latency_curves(report),
            "route_gate": route_gate(report)}
    gate = data["route_gate"]
    interval = (report.get("series") or {}).get("interval_s")
    per = f"per {interval:g} s interval" if _number(interval) else "per interval"
    charts = "".join((
        '<div class="grid">',
        _chart_card("chart-rate", "Send rate over time",
                    f"Documents per second {per}: the open-loop target against what was "
                    "achieved; a shaded band marks the warm-up.", wide=False),
        _chart_card("chart-latency-time", "Latency over time",
                    f"Send → arrived (status 01 back at the sender) {per}: p50, p99 and max.",
                    wide=False),
        "</div>",
        _chart_card("chart-latency-dist", "Latency distribution",
                    "Percentile curves of the whole run (warm-up excluded), HdrHistogram style: "
                    "each step right is ten times rarer."),
        _chart_card("chart-routes", "Routes: sender tier → recipient tier",
                    "Deliveries per tier pair (both paths: same platform and via VDXP); colour "
                    "is the worst p99 send → arrived of the pair, "
                    + (f"against the gate {gate['expression']} (green well within it, red at "
                       "its threshold)" if gate else
                       "relative to this run (no p99(send_to_arrived) gate to colour against: "
                       "red is the slowest pair, not a failure)")
                    + "; a red frame marks lost, rejected or undeliverable deliveries. Hover a "
                    "cell for the details."),
        _chart_card("chart-signing", "Signing and verification",
                    "Share of documents signed by a person, by the agency and both; validity "
                    "of the signatures at the recipients; verification failures by reason."),
    ))
    tables = "".join((system_under_test_section(report), _latency_section(report),
                      _faults_section(report), '<div class="grid">',
                      _by_tier_section(report), _problems_section(report), "</div>"))
    return "".join((
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
        f"<title>LGSP run {_e(run_id)}</title>\n<style>\n{_asset('report.css')}</style>\n",
        f"<script>\n{_asset('errors.js')}</script>\n</head>\n<body>\n",
        _header(report),
        '\n<div id="render-errors" class="render-errors" role="alert"></div>\n<main>\n',
        _slo_section(report), _load_section(report), charts, tables,
        '\n</main>\n<footer>Generated by lgsp-sim from the JSON run report · self-contained, '
        "works offline.</footer>\n",
        f'<script type="application/json" id="report-data">{embed_json(data)}</script>\n',
        f"<script>\n{_asset('charts.js')}</script>\n</body>\n</html>\n",
    ))



@functools.cache
def _asset(name: str) -> str:
    """A stylesheet or script of the page: package data in ``lgsp/metrics/assets/`` (read once)."""
    return resources.files("lgsp.metrics").joinpath("assets", name).read_text(encoding="utf-8")
