(function () {
"use strict";
var NS = "http://www.w3.org/2000/svg";
var PALETTE = {target: "#8c959f", achieved: "#0969da", errors: "#cf222e", p50: "#0969da",
  shape: "#6639ba",
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
   annotate: [{x, y, text, color}], steps: bool (points also carry x0, x1: the interval; a
   series with line: true is drawn through its points instead, without marks)}.
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
      if (o.steps && !s.line) {  /* a value per interval: flat across it, mark at the middle */
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
    if (s.line) return;  /* a plain line (the load shape): no marks of data points */
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
  var load = R.load || {}, segs = Array.isArray(load.segments) ? load.segments : [];
  if (segs.length && segs.length === load.segments_total) {  /* the shape itself, exactly */
    var shape = [];
    segs.forEach(function (g) {
      shape.push({x: g.start_s, y: g.from_rate, tip: "scheduled " + fmtTick(g.from_rate) +
                  " docs/s at " + fmtTick(g.start_s) + " s"});
      shape.push({x: g.end_s, y: g.to_rate, tip: "scheduled " + fmtTick(g.to_rate) +
                  " docs/s at " + fmtTick(g.end_s) + " s"});
    });
    series.push({key: "shape", name: "scheduled (" + (load.spec || load.shape) + ")",
                 color: PALETTE.shape, dash: "1 3", points: shape, line: true});
  }
  if (pts.some(function (p) { return p.errors > 0; })) {
    series.push({key: "errors", name: "errors/s (lost, rejected, failed)", color: PALETTE.errors,
      points: pts.map(function (p) {
        return {x: p.t_s + iv / 2, x0: p.t_s, x1: p.t_s + iv, y: (p.errors || 0) / iv,
                tip: span(p, iv) + ": " + fmtInt(p.errors) + " errors"};
      })});
  }
  var end = Math.max(pts[pts.length - 1].t_s + iv, num(load.duration_s) || 0);
  var marks = lineChart(box, {title: "send rate over time", series: series,
    xDomain: [0, end], bands: warmupBands(R, pts, iv), steps: true,
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
      (r.mean_hops == null ? "–" : r.mean_hops) + "; send → arrived p50 " + fmtMs(l.p50) + ", p99 " + fmtMs(l.p99) +
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
  /* the colour scale: against the p99(send_to_arrived) gate when the run has one (green at 0,
     yellow at half the gate, red at the gate and beyond), else relative to this run, said so */
  var gate = (DATA && DATA.route_gate) || null;
  var lo = gate ? 0 : (p99s.length ? minOf(p99s) : 0);
  var hi = gate ? gate.threshold_ms : (p99s.length ? maxOf(p99s) : 1);
  box.dataset.scale = gate ? "gate" : "relative";
  var W = 1000, left = 120, top = 58, ch = 108, cw = (W - left - 10) / cols.length;
  var H = top + rows.length * ch + 72;
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
      var level = (c.p99 === null || !(hi > lo)) ? 0
        : Math.min(Math.max((c.p99 - lo) / (hi - lo), 0), 1);
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
  el("text", {x: lx + 120, y: ly + 38, "font-size": 11, fill: MUTED, id: "route-scale"}, svg,
     gate ? "colour against the gate " + gate.expression + ": red at the threshold"
          : "colour relative to this run (fastest to slowest pair): no p99(send_to_arrived) " +
            "gate to colour against");
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
