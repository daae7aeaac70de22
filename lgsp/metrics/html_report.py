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

import html
import json
import math
import zlib
from typing import Any

from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException
from hdrh.histogram import HdrHistogram

CHART_IDS = ("chart-rate", "chart-latency-time", "chart-latency-dist", "chart-routes",
             "chart-signing")
CURVE_STAGES = {"send_to_arrived": "send → arrived (01)",
                "send_to_completed": "send → completed (06)"}
STAGE_LABELS = {
    "schedule_lag": "schedule lag (intended → submitted)",
    "sign": "sign (cost per document)",
    "produce_ack": "produce → broker ack",
    "verify": "verify (cost per delivery)",
    "send_to_arrived": "send → arrived (status 01 back)",
    "send_to_completed": "send → completed (status 06 back)",
}
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
    latency = (report.get("latency") or {}).get("send_to_arrived") or {}
    totals = (report.get("totals") or {}).get("send_to_arrived_ms") or {}
    out: dict[str, float | None] = {}
    for key, keys in (("p50", ("p50",)), ("p99", ("p99",)), ("p99.9", ("p99.9", "p999"))):
        out[key] = next((_number(src.get(k)) for src in (latency, totals) for k in keys
                         if _number(src.get(k)) is not None), None)
    return out


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
        ("duration", f"{totals['duration_s']:g} s" if _number(totals.get("duration_s"))
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
    if name in STAGE_LABELS:
        return STAGE_LABELS[name]
    if name.startswith("hop."):
        return f"hop: {name[4:].replace('_', ' ')}"
    return name.replace("_", " ")


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
        rows.append(f'<tr data-stage="{_e(name)}"><td>{_e(_stage_label(name))}</td>'
                    f'{"".join(cells)}</tr>')
    head = "".join(f'<th class="num">{_e(c)}</th>' for c, _ in columns)
    return (f'<section class="card" id="latency"><h2>Latency by stage</h2>'
            f'<p class="hint">Whole run, warm-up excluded; milliseconds unless shown in s.</p>'
            f'<table class="data" id="latency-table"><thead><tr><th>stage</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></section>')


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
    body = (f'<table class="data"><thead><tr><th>what</th><th>reason</th>'
            f'<th class="num">count</th></tr></thead><tbody>{rows}</tbody></table>' if rows else
            '<p class="ok-line">No rejections, undeliverable deliveries, dead letters, '
            'unexpected statuses or verification failures.</p>')
    return f'<section class="card half" id="problems"><h2>Problems by reason</h2>{body}</section>'


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
    data = {"report": embedded, "distribution": latency_curves(report)}
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
                    "is the worst p99 send → arrived of the pair, a red frame marks lost, "
                    "rejected or undeliverable deliveries. Hover a cell for the details."),
        _chart_card("chart-signing", "Signing and verification",
                    "Share of documents signed by a person, by the agency and both; validity "
                    "of the signatures at the recipients; verification failures by reason."),
    ))
    tables = "".join((_latency_section(report), _faults_section(report), '<div class="grid">',
                      _by_tier_section(report), _problems_section(report), "</div>"))
    return "".join((
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
        f"<title>LGSP run {_e(run_id)}</title>\n<style>{_CSS}</style>\n",
        f"<script>{_ERROR_JS}</script>\n</head>\n<body>\n",
        _header(report),
        '\n<div id="render-errors" class="render-errors" role="alert"></div>\n<main>\n',
        _slo_section(report), _load_section(report), charts, tables,
        '\n</main>\n<footer>Generated by lgsp-sim from the JSON run report · self-contained, '
        "works offline.</footer>\n",
        f'<script type="application/json" id="report-data">{embed_json(data)}</script>\n',
        f"<script>{_CHARTS_JS}</script>\n</body>\n</html>\n",
    ))


_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--card:#fff;--accent:#0969da;
--good:#1a7f37;--bad:#cf222e;--warn:#9a6700}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Noto Sans","DejaVu Sans","Liberation Sans",Arial,sans-serif}
header.top,main,footer{max-width:1280px;margin:0 auto;padding:0 20px}
header.top{padding-top:18px}
.title-row{display:flex;align-items:baseline;gap:14px;flex-wrap:wrap}
h1{font-size:22px;margin:0}
h2{font-size:16px;margin:0 0 4px;display:flex;align-items:center;gap:10px}
.run-id{font:600 15px ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;
background:#ddf4ff;color:#0550ae;padding:2px 8px;border-radius:6px}
.facts{margin:8px 0 12px;color:var(--muted);display:flex;flex-wrap:wrap;gap:4px 18px}
.fact-k{text-transform:uppercase;font-size:11px;letter-spacing:.04em}
.fact-v{color:var(--fg)}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px;
border-top:3px solid var(--accent)}
.kpi-good{border-top-color:var(--good)}.kpi-bad{border-top-color:var(--bad)}
.kpi-bad .kpi-value{color:var(--bad)}
.kpi-label{font-size:12px;color:var(--muted)}
.kpi-value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.kpi-unit{font-size:13px;font-weight:400;color:var(--muted)}
.note{margin:6px 0;padding:6px 10px;border-radius:6px}
.note-bad{background:#ffebe9;color:var(--bad)}
.render-errors{max-width:1240px;margin:12px auto;padding:10px 14px;border:2px solid var(--bad);
background:#ffebe9;color:var(--bad);border-radius:8px;white-space:pre-wrap;font-family:monospace}
.render-errors:empty{display:none}
main{padding-top:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;
margin-bottom:14px;min-width:0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:0 14px}
.hint{margin:0 0 8px;color:var(--muted);font-size:12.5px}
.chart svg{display:block;width:100%;height:auto}
.chart .nodata{padding:28px;text-align:center;color:var(--muted);background:var(--bg);
border:1px dashed var(--line);border-radius:6px;font-style:italic}
.chart .chart-note{color:var(--warn);font-size:12px;margin-top:4px}
table.data{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.data th,table.data td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left}
table.data th{font-size:12px;color:var(--muted);font-weight:600;background:var(--bg)}
table.data .num{text-align:right}
table.data tr.fail td{background:#fff5f5}
.slo-reason{font-size:12px;color:var(--muted)}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
.badge{font-size:12px;font-weight:700;padding:1px 8px;border-radius:10px;color:#fff}
.badge-pass{background:var(--good)}.badge-fail{background:var(--bad)}
td.bad{color:var(--bad);font-weight:700}td.warn{color:var(--warn)}
.kvs{display:flex;flex-wrap:wrap;gap:6px 26px;margin:6px 0 0}
.kv dt{font-size:11px;text-transform:uppercase;color:var(--muted);letter-spacing:.04em}
.kv dd{margin:0;font-weight:600}
.ok-line{color:var(--good);margin:6px 0}
footer{color:var(--muted);font-size:12px;padding-bottom:24px}
.chart svg{fill:#1f2328}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",
"Liberation Sans",Arial,sans-serif}
svg .axis-label{font-size:12px;fill:#59636e}
svg .tick{font-size:11px;fill:#59636e}
svg .grid-line{stroke:#eaeef2}
svg .axis-line{stroke:#8c959f}
svg .mark:hover{stroke:#1f2328;stroke-width:1.5}
"""

_ERROR_JS = r"""
(function(){
  var pending=[];
  function show(msg){
    var box=document.getElementById("render-errors");
    if(!box){pending.push(msg);return;}
    box.textContent+=(box.textContent?"\n":"")+msg;
  }
  window.lgspReportError=show;
  window.onerror=function(message,source,line,col,error){
    show("JavaScript error: "+message+(line?" (line "+line+":"+col+")":"")+
         (error&&error.stack?"\n"+error.stack:""));
  };
  window.addEventListener("unhandledrejection",function(e){show("Unhandled: "+e.reason);});
  document.addEventListener("DOMContentLoaded",function(){pending.splice(0).forEach(show);});
})();
"""

_CHARTS_JS = r"""
(function () {
"use strict";
var NS = "http://www.w3.org/2000/svg";
var PALETTE = {target: "#8c959f", achieved: "#0969da", errors: "#cf222e", p50: "#0969da",
  p99: "#bf8700", max: "#cf222e", send_to_arrived: "#0969da", send_to_completed: "#e36209"};
var MUTED = "#59636e", RED = "#cf222e", GREEN = "#1a7f37";

function el(tag, attrs, parent, text) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs || {}) {
    if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
  }
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (parent) parent.appendChild(e);
  return e;
}
function tip(node, text) { el("title", null, node, text); return node; }
function num(v) { return (typeof v === "number" && isFinite(v)) ? v : null; }
function fmtInt(v) {
  v = num(v);
  return v === null ? "–" : Math.round(v).toLocaleString("en-US");
}
function fmtMs(v) {
  v = num(v);
  if (v === null) return "–";
  var a = Math.abs(v);
  if (a >= 10000) return (v / 1000).toLocaleString("en-US", {maximumFractionDigits: 1}) + " s";
  if (a >= 1000) return (v / 1000).toFixed(2) + " s";
  if (a >= 100) return v.toFixed(0) + " ms";
  if (a >= 10) return v.toFixed(1) + " ms";
  return v.toFixed(2) + " ms";
}
function fmtTick(v) {
  var a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toLocaleString("en-US", {maximumFractionDigits: 1}) + "M";
  if (a >= 1e4) return (v / 1e3).toLocaleString("en-US", {maximumFractionDigits: 1}) + "k";
  return v.toLocaleString("en-US", {maximumFractionDigits: a < 1 ? 3 : (a < 10 ? 2 : 1)});
}
function fmtPct(v) {
  v = num(v);
  if (v === null) return "–";
  return (v * 100).toFixed(v >= 0.9995 || v === 0 ? 0 : 1) + " %";
}
function maxOf(values) { return Math.max.apply(null, values); }
function minOf(values) { return Math.min.apply(null, values); }
function textWidth(s, size) { return String(s).length * (size || 12) * 0.56; }

/* ---- scales ---- */
function niceStep(range, count) {
  var raw = range / Math.max(count, 1);
  var mag = Math.pow(10, Math.floor(Math.log10(raw)));
  var n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
}
function niceMax(v, count) {
  if (!(v > 0)) return 1;
  var s = niceStep(v, count || 5);
  return Math.ceil(v / s - 1e-9) * s;
}
function linearScale(d0, d1, r0, r1, count) {
  if (!(d1 > d0)) d1 = d0 + 1;
  var f = function (v) { return r0 + (v - d0) / (d1 - d0) * (r1 - r0); };
  f.ticks = function () {
    var s = niceStep(d1 - d0, count || 5), out = [];
    for (var t = Math.ceil(d0 / s) * s; t <= d1 + s * 1e-9; t += s) {
      out.push(Math.abs(t) < s * 1e-9 ? 0 : t);
    }
    return out;
  };
  return f;
}
function nice125(v, up) {  /* the nearest 1, 2 or 5 × 10^k below (or above) v */
  var e = Math.floor(Math.log10(v)), best = null;
  [0.5, 1, 2, 5, 10].forEach(function (m) {
    var c = m * Math.pow(10, e);
    if (up ? (c >= v * (1 - 1e-9) && (best === null || c < best))
           : (c <= v * (1 + 1e-9) && (best === null || c > best))) best = c;
  });
  return best;
}
function logScale(d0, d1, r0, r1) {
  var l0 = Math.log10(d0), l1 = Math.log10(d1);
  if (!(l1 > l0)) l1 = l0 + 1;
  var f = function (v) {
    return r0 + (Math.log10(Math.max(v, d0)) - l0) / (l1 - l0) * (r1 - r0);
  };
  f.ticks = function () {
    var out = [], steps = (l1 - l0) > 3 ? [1] : [1, 2, 5];
    for (var e = Math.floor(l0); e <= Math.ceil(l1); e++) {
      steps.forEach(function (m) {
        var t = m * Math.pow(10, e);
        if (t >= d0 * (1 - 1e-9) && t <= d1 * (1 + 1e-9)) out.push(t);
      });
    }
    return out;
  };
  return f;
}

/* A line chart with a circle mark per data point (hover: the value). o = {width, height,
   series: [{key, name, color, dash, points: [{x, y, tip} or null for a gap]}], xDomain,
   xTicks: [{v, label}], xLabel, yLabel, yLog: "auto" | bool, bands: [{x0, x1, label}],
   annotate: [{x, y, text, color}], steps: bool (points also carry x0, x1: the interval)}.
   Returns the number of marks drawn. */
function lineChart(box, o) {
  var W = o.width || 580, H = o.height || 330, m = {l: 66, r: 20, t: 40, b: 50};
  var pts = [];
  o.series.forEach(function (s) {
    s.points.forEach(function (p) { if (p && num(p.y) !== null) pts.push(p); });
  });
  if (!pts.length) return 0;
  var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img",
                       "aria-label": o.title || "chart"}, box);
  var xs = pts.map(function (p) { return p.x; }), ys = pts.map(function (p) { return p.y; });
  var x0 = o.xDomain ? o.xDomain[0] : minOf(xs), x1 = o.xDomain ? o.xDomain[1] : maxOf(xs);
  var ymax = maxOf(ys);
  var positive = ys.filter(function (v) { return v > 0; });
  var ymin = positive.length ? minOf(positive) : 0;
  var useLog = o.yLog === "auto" ? (ymin > 0 && ymax / ymin >= 50) : !!o.yLog;
  var y = useLog ? logScale(nice125(ymin, false), nice125(ymax, true), H - m.b, m.t)
                 : linearScale(0, niceMax(ymax, 5), H - m.b, m.t, 5);
  var x = linearScale(x0, x1, m.l, W - m.r, 8);
  var g = el("g", null, svg);
  (o.bands || []).forEach(function (b) {
    var a = x(Math.max(b.x0, x0)), z = x(Math.min(b.x1, x1));
    if (z <= a) return;
    el("rect", {x: a, y: m.t, width: z - a, height: H - m.b - m.t, fill: "#f1f3f5"}, g);
    el("text", {x: a + 4, y: m.t + 13, "class": "tick"}, g, b.label);
  });
  y.ticks().forEach(function (t) {
    var py = y(t);
    el("line", {x1: m.l, x2: W - m.r, y1: py, y2: py, "class": "grid-line"}, g);
    el("text", {x: m.l - 8, y: py + 4, "text-anchor": "end", "class": "tick"}, g, fmtTick(t));
  });
  var xt = o.xTicks || x.ticks().map(function (t) { return {v: t, label: fmtTick(t)}; });
  xt.forEach(function (t) {
    if (t.v < x0 - 1e-9 || t.v > x1 + 1e-9) return;
    var px = x(t.v);
    el("line", {x1: px, x2: px, y1: m.t, y2: H - m.b, "class": "grid-line"}, g);
    el("line", {x1: px, x2: px, y1: H - m.b, y2: H - m.b + 5, "class": "axis-line"}, g);
    el("text", {x: px, y: H - m.b + 18, "text-anchor": "middle", "class": "tick"}, g, t.label);
  });
  el("line", {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, "class": "axis-line"}, g);
  el("line", {x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, "class": "axis-line"}, g);
  el("text", {x: (m.l + W - m.r) / 2, y: H - 10, "text-anchor": "middle",
              "class": "axis-label"}, g, o.xLabel);
  el("text", {transform: "translate(16," + ((m.t + H - m.b) / 2) + ") rotate(-90)",
              "text-anchor": "middle", "class": "axis-label"},
     g, o.yLabel + (useLog ? " · log scale" : ""));
  var marks = 0;
  o.series.forEach(function (s) {
    var d = "", pen = false, dense = s.points.length > 60;
    s.points.forEach(function (p) {
      if (!p || num(p.y) === null) { pen = false; return; }
      var py = y(p.y).toFixed(1);
      if (o.steps) {  /* a value per interval: flat across it, the mark at its middle */
        d += (pen ? "L" : "M") + x(p.x0).toFixed(1) + "," + py +
             "L" + x(p.x1).toFixed(1) + "," + py;
      } else {
        d += (pen ? "L" : "M") + x(p.x).toFixed(1) + "," + py;
      }
      pen = true;
    });
    if (d) {
      el("path", {d: d, fill: "none", stroke: s.color, "stroke-width": 2,
                  "stroke-dasharray": s.dash || null, "stroke-linejoin": "round"}, svg);
    }
    s.points.forEach(function (p) {
      if (!p || num(p.y) === null) return;
      var c = el("circle", {cx: x(p.x).toFixed(1), cy: y(p.y).toFixed(1), r: dense ? 2 : 3,
                            fill: s.color, "class": "mark", "data-series": s.key}, svg);
      tip(c, p.tip || (s.name + ": " + p.y));
      marks++;
    });
  });
  var lx = m.l;
  o.series.forEach(function (s) {
    var lg = el("g", {"class": "legend"}, svg);
    el("line", {x1: lx, x2: lx + 22, y1: 16, y2: 16, stroke: s.color, "stroke-width": 3,
                "stroke-dasharray": s.dash || null}, lg);
    el("text", {x: lx + 28, y: 20, "font-size": 12}, lg, s.name);
    lx += 40 + textWidth(s.name, 12);
  });
  (o.annotate || []).forEach(function (a) {
    var px = x(a.x), right = px > W - m.r - 90;
    el("text", {x: right ? px - 6 : px + 6, y: y(a.y) - 7, "text-anchor": right ? "end" : "start",
                "font-size": 11, "font-weight": 600, fill: a.color}, svg, a.text);
  });
  return marks;
}

function finish(box, n, why) {
  box.setAttribute("data-rendered", String(n));
  if (n !== 0) return;
  while (box.firstChild) box.removeChild(box.firstChild);
  var d = document.createElement("div");
  d.className = "nodata";
  d.textContent = "no data" + (why ? ": " + why : "");
  box.appendChild(d);
}
function note(box, text) {
  var p = document.createElement("div");
  p.className = "chart-note";
  p.textContent = text;
  box.appendChild(p);
}

/* ---- the interval series: rate and latency over time ---- */
function seriesPoints(R) {
  var s = R.series;
  return (s && Array.isArray(s.points)) ? s.points : [];
}
function warmupBands(R, pts, iv) {
  var warm = pts.filter(function (p) { return p.warmup; });
  if (!warm.length) return [];
  var end = num(R.series.warmup_s) || (maxOf(warm.map(function (p) { return p.t_s; })) + iv);
  return [{x0: 0, x1: end, label: "warm-up"}];
}
function span(p, iv) { return fmtTick(p.t_s) + "–" + fmtTick(p.t_s + iv) + " s"; }

function chartRate(box, R) {
  var pts = seriesPoints(R);
  if (!pts.length) return [0, "the report has no interval series"];
  var iv = num(R.series.interval_s) || 5;
  function line(field, what, count, countWhat) {
    return pts.map(function (p) {
      if (num(p[field]) === null) return null;
      return {x: p.t_s + iv / 2, x0: p.t_s, x1: p.t_s + iv, y: p[field],
              tip: span(p, iv) + ": " + what + " " +
              fmtTick(p[field]) + " docs/s (" + fmtInt(p[count]) + " " + countWhat + ")"};
    });
  }
  var series = [  /* the dashed target drawn over the achieved rate, so both stay visible */
    {key: "achieved", name: "achieved docs/s", color: PALETTE.achieved,
     points: line("achieved_rate", "achieved", "sent", "sent")},
    {key: "target", name: "target docs/s", color: PALETTE.target, dash: "6 4",
     points: line("target_rate", "target", "target", "documents")}];
  if (pts.some(function (p) { return p.errors > 0; })) {
    series.push({key: "errors", name: "errors/s (lost, rejected, failed)", color: PALETTE.errors,
      points: pts.map(function (p) {
        return {x: p.t_s + iv / 2, x0: p.t_s, x1: p.t_s + iv, y: (p.errors || 0) / iv,
                tip: span(p, iv) + ": " + fmtInt(p.errors) + " errors"};
      })});
  }
  var marks = lineChart(box, {title: "send rate over time", series: series,
    xDomain: [0, pts[pts.length - 1].t_s + iv], bands: warmupBands(R, pts, iv), steps: true,
    xLabel: "time since the schedule started (s)", yLabel: "documents / s", yLog: false});
  return [marks, "no rates in the interval series"];
}

function chartLatencyTime(box, R) {
  var pts = seriesPoints(R);
  if (!pts.length) return [0, "the report has no interval series"];
  var iv = num(R.series.interval_s) || 5;
  var series = ["p50", "p99", "max"].map(function (k) {
    return {key: k, name: k + " send → arrived", color: PALETTE[k],
      dash: k === "max" ? "2 3" : null,
      points: pts.map(function (p) {
        var l = p.send_to_arrived_ms || {};
        if (!l.count || num(l[k]) === null) return null;
        return {x: p.t_s + iv / 2, x0: p.t_s, x1: p.t_s + iv, y: l[k],
                tip: span(p, iv) + " · " + k + " " + fmtMs(l[k]) +
                " (" + fmtInt(l.count) + " arrivals)"};
      })};
  });
  var marks = lineChart(box, {title: "latency over time", series: series,
    xDomain: [0, pts[pts.length - 1].t_s + iv], bands: warmupBands(R, pts, iv), steps: true,
    xLabel: "time since the schedule started (s)", yLabel: "latency (ms)", yLog: "auto"});
  return [marks, "no arrivals recorded in any interval"];
}

/* ---- the latency distribution (HdrHistogram percentile plot) ---- */
function decadeLabel(k) {
  if (k === 0) return "0%";
  return (100 - Math.pow(10, 2 - k)).toFixed(Math.max(k - 2, 0)) + "%";
}
function chartLatencyDist(box, R, D) {
  var dist = D || {}, curves = dist.curves || {}, names = Object.keys(curves);
  if (!names.length) return [0, "no latency histograms or summaries in the report"];
  var maxX = num(dist.max_x) || 2;
  var ticks = [{v: 0, label: decadeLabel(0)}, {v: Math.log10(2), label: "50%"}];
  for (var k = 1; k <= Math.floor(maxX - 0.5 + 1e-9); k++) {
    ticks.push({v: k, label: decadeLabel(k)});
  }
  ticks.push({v: maxX, label: "max"});
  var fromSummary = [], annotate = [];
  var series = names.map(function (n) {
    var c = curves[n], last = c.points[c.points.length - 1];
    if (c.source !== "histogram") fromSummary.push(c.label);
    if (last) annotate.push({x: last[0], y: last[1], text: "max " + fmtMs(last[1]),
                             color: PALETTE[n] || "#333"});
    return {key: n, name: c.label + " (n = " + fmtInt(c.count) + ")",
      color: PALETTE[n] || "#6e7781",
      points: c.points.map(function (p) {
        return {x: p[0], y: p[1], tip: c.label + " · " + p[2] + ": " + fmtMs(p[1])};
      })};
  });
  var marks = lineChart(box, {title: "latency distribution", width: 1000, height: 380,
    series: series, xDomain: [0, maxX], xTicks: ticks, annotate: annotate,
    xLabel: "percentile (each step right is ten times rarer)", yLabel: "latency (ms)",
    yLog: "auto"});
  if (marks && fromSummary.length) {
    note(box, "From the summary quantiles only (the report has no histogram): " +
         fromSummary.join(", ") + ".");
  }
  return [marks, "no latency recorded"];
}

/* ---- the route matrix ---- */
function heat(t) {  /* 0: pale green, 0.5: pale yellow, 1: pale red */
  var stops = [[218, 242, 222], [255, 240, 190], [255, 200, 190]];
  var i = t < 0.5 ? 0 : 1, u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  var c = [0, 1, 2].map(function (j) {
    return Math.round(stops[i][j] + (stops[i + 1][j] - stops[i][j]) * u);
  });
  return "rgb(" + c.join(",") + ")";
}
var COUNTED = ["sent", "delivered", "completed", "lost", "rejected", "undeliverable"];
function routeCells(routes) {
  var cells = {};
  routes.forEach(function (r) {
    var key = r.sender_tier + "\u0000" + r.recipient_tier;
    var c = cells[key];
    if (!c) {
      c = cells[key] = {p99: null, paths: []};
      COUNTED.forEach(function (f) { c[f] = 0; });
    }
    COUNTED.forEach(function (f) { c[f] += r[f] || 0; });
    var l = r.send_to_arrived_ms || {}, p99 = l.count ? num(l.p99) : null;
    if (p99 !== null) c.p99 = c.p99 === null ? p99 : Math.max(c.p99, p99);
    c.paths.push({path: r.path, r: r, p99: p99});
  });
  return cells;
}
function routeTip(s, t, c) {
  var lines = [s + " → " + t + ": " + fmtInt(c.sent) + " deliveries"];
  c.paths.forEach(function (p) {
    var r = p.r, l = r.send_to_arrived_ms || {};
    lines.push(p.path + ": sent " + fmtInt(r.sent) + ", delivered " + fmtInt(r.delivered) +
      ", completed " + fmtInt(r.completed) + ", lost " + fmtInt(r.lost) + ", rejected " +
      fmtInt(r.rejected) + ", undeliverable " + fmtInt(r.undeliverable) + "; mean hops " +
      r.mean_hops + "; send → arrived p50 " + fmtMs(l.p50) + ", p99 " + fmtMs(l.p99) +
      ", max " + fmtMs(l.max));
  });
  return lines.join("\n");
}
function chartRoutes(box, R) {
  var routes = (R.routing || {}).routes || [];
  if (!routes.length) return [0, "no deliveries routed"];
  var order = ((R.topology || {}).tiers || []).slice();
  routes.forEach(function (r) {
    [r.sender_tier, r.recipient_tier].forEach(function (t) {
      if (order.indexOf(t) < 0) order.push(t);
    });
  });
  function used(field) {
    return order.filter(function (t) {
      return routes.some(function (r) { return r[field] === t; });
    });
  }
  var rows = used("sender_tier"), cols = used("recipient_tier"), cells = routeCells(routes);
  var p99s = Object.keys(cells).map(function (k) { return cells[k].p99; })
    .filter(function (v) { return v !== null; });
  var lo = p99s.length ? minOf(p99s) : 0, hi = p99s.length ? maxOf(p99s) : 1;
  var W = 1000, left = 120, top = 58, ch = 108, cw = (W - left - 10) / cols.length;
  var H = top + rows.length * ch + 56;
  var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img",
                       "aria-label": "route matrix"}, box);
  el("text", {x: left + (W - left) / 2, y: 16, "text-anchor": "middle", "class": "axis-label"},
     svg, "recipient tier");
  el("text", {transform: "translate(16," + (top + rows.length * ch / 2) + ") rotate(-90)",
              "text-anchor": "middle", "class": "axis-label"}, svg, "sender tier");
  cols.forEach(function (t, j) {
    el("text", {x: left + j * cw + cw / 2, y: top - 12, "text-anchor": "middle",
                "font-size": 13, "font-weight": 600}, svg, t);
  });
  var marks = 0;
  rows.forEach(function (s, i) {
    var y0 = top + i * ch;
    el("text", {x: left - 10, y: y0 + ch / 2 + 4, "text-anchor": "end", "font-size": 13,
                "font-weight": 600}, svg, s);
    cols.forEach(function (t, j) {
      var x0 = left + j * cw, c = cells[s + "\u0000" + t], g = el("g", null, svg);
      if (!c) {
        el("rect", {x: x0 + 3, y: y0 + 3, width: cw - 6, height: ch - 6, rx: 6,
                    fill: "#f6f8fa", stroke: "#eaeef2"}, g);
        el("text", {x: x0 + cw / 2, y: y0 + ch / 2 + 4, "text-anchor": "middle",
                    "class": "tick"}, g, "no traffic");
        return;
      }
      var bad = c.lost + c.rejected + c.undeliverable;
      var level = (c.p99 === null || !(hi > lo)) ? 0 : (c.p99 - lo) / (hi - lo);
      var rect = el("rect", {x: x0 + 3, y: y0 + 3, width: cw - 6, height: ch - 6, rx: 6,
        fill: c.p99 === null ? "#eaeef2" : heat(level), stroke: bad ? RED : "#d1d9e0",
        "stroke-width": bad ? 2.5 : 1, "class": "mark", "data-route": s + "->" + t}, g);
      tip(rect, routeTip(s, t, c));
      marks++;
      var cx = x0 + 12;
      var head = el("text", {x: cx, y: y0 + 24, "font-size": 15, "font-weight": 700}, g,
                    fmtInt(c.sent));
      el("tspan", {"font-size": 11, "font-weight": 400, fill: MUTED}, head, " deliveries");
      el("text", {x: cx, y: y0 + 42, "font-size": 11.5, fill: GREEN}, g,
         fmtInt(c.delivered) + " delivered");
      var st = el("text", {x: cx, y: y0 + 58, "font-size": 11.5}, g);
      var shown = [["lost", c.lost], ["rejected", c.rejected]];
      if (c.undeliverable) shown.push(["undeliverable", c.undeliverable]);
      shown.forEach(function (f, i) {
        if (i) el("tspan", {fill: MUTED}, st, " · ");
        el("tspan", {fill: f[1] ? RED : MUTED, "font-weight": f[1] ? 700 : 400}, st,
           fmtInt(f[1]) + " " + f[0]);
      });
      el("text", {x: cx, y: y0 + 78, "font-size": 12, "font-weight": 600}, g,
         "p99 " + fmtMs(c.p99));
      el("text", {x: cx, y: y0 + 95, "font-size": 10.5, fill: MUTED}, g,
         c.paths.map(function (p) {
           return (p.path === "via_vdxp" ? "via VDXP" : p.path) + " " + fmtMs(p.p99);
         }).join(" · "));
    });
  });
  var ly = top + rows.length * ch + 22, lw = 260, lx = left;
  var grad = el("linearGradient", {id: "heat-grad"}, el("defs", null, svg));
  [0, 0.5, 1].forEach(function (t) {
    el("stop", {offset: (t * 100) + "%", "stop-color": heat(t)}, grad);
  });
  el("text", {x: lx, y: ly + 4, "font-size": 11, fill: MUTED}, svg, "p99 send → arrived");
  el("rect", {x: lx + 120, y: ly - 8, width: lw, height: 14, fill: "url(#heat-grad)",
              stroke: "#d1d9e0"}, svg);
  el("text", {x: lx + 120, y: ly + 22, "class": "tick"}, svg, fmtMs(lo));
  el("text", {x: lx + 120 + lw, y: ly + 22, "text-anchor": "end", "class": "tick"}, svg,
     fmtMs(hi));
  el("rect", {x: lx + 420, y: ly - 8, width: 22, height: 14, rx: 3, fill: "#fff", stroke: RED,
              "stroke-width": 2.5}, svg);
  el("text", {x: lx + 450, y: ly + 4, "font-size": 11, fill: MUTED}, svg,
     "lost, rejected (02) or undeliverable deliveries");
  return [marks, "no deliveries routed"];
}

/* ---- signing ---- */
function chartSigning(box, R) {
  var s = R.signing;
  if (!s || !(s.documents > 0)) return [0, "no documents signed"];
  var v = s.verification || {}, failures = v.failures || {};
  var groups = [
    {title: "Signed documents (of " + fmtInt(s.documents) + ")", color: function () {
      return "#0969da"; }, rows: [
      ["personal signature", s.personal_share, s.personal_signed, s.documents],
      ["agency signature", s.agency_share, s.agency_signed, s.documents],
      ["both signatures", s.both_share, s.both_signed, s.documents]]},
    {title: "Valid at the recipients (of " + fmtInt(v.verified) + " verified deliveries)",
     color: function (share) { return share >= 0.999 ? GREEN : "#bf8700"; },
     rows: v.verified > 0 ? [
      ["personal signature valid", v.personal_valid_share, v.personal_valid, v.verified],
      ["agency signature valid", v.agency_valid_share, v.agency_valid, v.verified],
      ["legally valid (both)", v.legally_valid_share, v.legally_valid, v.verified]] : []}];
  var reasons = Object.keys(failures).sort(function (a, b) { return failures[b] - failures[a]; });
  var rowH = 26, W = 1000, leftW = 560, labelW = 170, barW = leftW - labelW - 90;
  var nRows = groups.reduce(function (a, b) { return a + b.rows.length + 1; }, 0);
  var H = Math.max(nRows * rowH + 20, (Math.max(reasons.length, 1) + 1) * rowH + 50) + 30;
  var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "signing"}, box);
  var y = 18, marks = 0;
  groups.forEach(function (grp) {
    el("text", {x: 0, y: y, "font-size": 12.5, "font-weight": 700}, svg, grp.title);
    y += 8;
    grp.rows.forEach(function (r) {
      var share = num(r[1]) || 0;
      el("text", {x: labelW - 8, y: y + rowH / 2 + 2, "text-anchor": "end", "font-size": 12},
         svg, r[0]);
      el("rect", {x: labelW, y: y + 4, width: barW, height: rowH - 10, fill: "#f1f3f5", rx: 3},
         svg);
      var bar = el("rect", {x: labelW, y: y + 4, width: Math.max(barW * share, share > 0 ? 1 : 0),
        height: rowH - 10, rx: 3, fill: grp.color(share), "class": "mark", "data-bar": r[0]},
        svg);
      tip(bar, r[0] + ": " + fmtPct(share) + " (" + fmtInt(r[2]) + " of " + fmtInt(r[3]) + ")");
      marks++;
      el("text", {x: labelW + barW + 8, y: y + rowH / 2 + 2, "font-size": 12,
                  "font-weight": 600}, svg, fmtPct(share) + " (" + fmtInt(r[2]) + ")");
      y += rowH;
    });
    y += rowH / 2 + 4;
  });
  [0, 0.5, 1].forEach(function (t) {
    el("line", {x1: labelW + barW * t, x2: labelW + barW * t, y1: y - rowH, y2: y - rowH + 5,
                "class": "axis-line"}, svg);
    el("text", {x: labelW + barW * t, y: y - rowH + 18, "text-anchor": "middle",
                "class": "tick"}, svg, (t * 100) + " %");
  });
  var fx = leftW + 60, fy = 18, fw = W - fx - 10;
  el("text", {x: fx, y: fy, "font-size": 12.5, "font-weight": 700}, svg,
     "Verification failures by reason (deliveries)");
  fy += 8;
  if (!reasons.length) {
    el("text", {x: fx, y: fy + rowH / 2 + 4, "font-size": 12.5, fill: GREEN}, svg,
       "none: every verified signature was valid");
  } else {
    var fmax = maxOf(reasons.map(function (k) { return failures[k]; }));
    var fl = Math.min(200, maxOf(reasons.map(function (k) { return textWidth(k, 12); })) + 10);
    reasons.forEach(function (k) {
      el("text", {x: fx + fl - 8, y: fy + rowH / 2 + 2, "text-anchor": "end", "font-size": 12},
         svg, k);
      var w = (fw - fl - 50) * failures[k] / fmax;
      var bar = el("rect", {x: fx + fl, y: fy + 4, width: Math.max(w, 1), height: rowH - 10,
        rx: 3, fill: RED, "class": "mark", "data-bar": "failure:" + k}, svg);
      tip(bar, k + ": " + fmtInt(failures[k]) + " deliveries");
      marks++;
      el("text", {x: fx + fl + w + 6, y: fy + rowH / 2 + 2, "font-size": 12, "font-weight": 600},
         svg, fmtInt(failures[k]));
      fy += rowH;
    });
  }
  var sc = s.sign_cost_us || {}, vc = s.verify_cost_us || {};
  if (sc.count || vc.count) {
    el("text", {x: fx, y: H - 30, "font-size": 11.5, fill: MUTED}, svg,
       "sign, per document: p50 " + fmtInt(sc.p50) + " µs · p99 " + fmtInt(sc.p99) + " µs");
    el("text", {x: fx, y: H - 12, "font-size": 11.5, fill: MUTED}, svg,
       "verify (digest + both), per delivery: p50 " + fmtInt(vc.p50) + " µs · p99 " +
       fmtInt(vc.p99) + " µs");
  }
  return [marks, "no signing figures"];
}

/* ---- draw everything ---- */
var DATA = null;
try {
  DATA = JSON.parse(document.getElementById("report-data").textContent);
} catch (e) {
  window.lgspReportError("The embedded report data is unreadable: " + e);
}
var R = (DATA && DATA.report) || {};
var charts = [
  ["chart-rate", chartRate],
  ["chart-latency-time", chartLatencyTime],
  ["chart-latency-dist", function (box, r) {
    return chartLatencyDist(box, r, DATA && DATA.distribution); }],
  ["chart-routes", chartRoutes],
  ["chart-signing", chartSigning]];
charts.forEach(function (c) {
  var box = document.getElementById(c[0]);
  if (!box) return;
  try {
    var out = c[1](box, R);
    finish(box, out[0], out[1]);
  } catch (e) {
    finish(box, 0, "the chart could not be drawn");
    window.lgspReportError(c[0] + ": " + (e && e.stack ? e.stack : e));
  }
});
document.body.dataset.chartsReady = "1";
})();
"""
