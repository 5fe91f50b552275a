"""Inline stylesheet and scripts of the HTML report: no library, no network.

``ERROR_PROBE`` runs first and records any script error or ``console.error`` call into the
``data-report-errors`` attribute of ``<html>``; ``CHARTS`` draws the four SVG charts from the
JSON embedded in the page and marks ``data-charts-drawn`` / ``data-render="done"``. The
render test in a headless browser reads those attributes from the dumped DOM.
"""

from __future__ import annotations

__all__ = ["CHARTS", "ERROR_PROBE", "STYLE"]

STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #ffffff; --accent: #0b6e4f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 2px solid var(--line);
     padding-bottom: 4px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
p.meta { color: var(--muted); margin: 0 0 12px; }
.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: 10px 14px; margin: 14px 0; }
.grid { display: grid; grid-template-columns: 1fr; gap: 18px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
figcaption { font-weight: 600; margin-bottom: 2px; }
figure p.how { color: var(--muted); font-size: 12.5px; margin: 0 0 8px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg.chart .axis line, svg.chart .grid line { stroke: var(--line); }
svg.chart .zero { stroke: #9aa5b1; }
svg.chart .empty { fill: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: right;
         vertical-align: top; }
td { white-space: nowrap; }
th:first-child, td:first-child { text-align: left; white-space: normal; }
thead th { background: #f5f7fa; }
tr.section td { background: #fafbfc; font-weight: 600; text-align: left; }
td .n { display: block; color: var(--muted); font-size: 11px; }
td.suppressed { color: var(--muted); font-style: italic; }
dl.defs dt { font-weight: 600; margin-top: 8px; }
dl.defs dd { margin: 0 0 0 18px; color: #323f4b; }
nav a { margin-right: 14px; color: var(--accent); }
@media print { figure { break-inside: avoid; } }
"""

ERROR_PROBE = """
(function () {
  var errors = [];
  var root = document.documentElement;
  function record(message) {
    errors.push(String(message).slice(0, 300));
    root.setAttribute("data-report-errors", JSON.stringify(errors));
  }
  root.setAttribute("data-report-errors", "[]");
  window.addEventListener("error", function (event) { record(event.message || "error"); });
  window.addEventListener("unhandledrejection", function () { record("unhandled rejection"); });
  var original = console.error;
  console.error = function () {
    record(Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();
"""

CHARTS = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var PALETTE = ["#0b6e4f", "#3a7bd5", "#d64545", "#f0b429", "#8e44ad", "#2cb1bc", "#7b8794"];
  var BIN_COLOURS = {
    "0-30": "#0b6e4f", "31-60": "#57ae5b", "61-90": "#f7c948", ">90": "#e66a00",
    "open": "#9aa5b1", "cancelled": "#d9e2ec"
  };

  function colour(index) { return PALETTE[index % PALETTE.length]; }

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, String(attrs[key]));
    });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function label(parent, x, y, content, attrs) {
    var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }

  function tip(node, content) { el("title", {}, node).textContent = content; }

  function svg(host, width, height, title) {
    var root = el("svg", {
      "class": "chart", viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": title
    }, host);
    return root;
  }

  function empty(root, width, height) {
    label(root, width / 2, height / 2, "No figure to show (no data, or every cell suppressed)",
      { "text-anchor": "middle", "class": "empty" });
    return 0;
  }

  function niceMax(value) {
    if (!(value > 0)) { return 1; }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) {
      if (value <= steps[i] * power) { return steps[i] * power; }
    }
    return 10 * power;
  }

  function fmt(value, digits) {
    return Number(value).toFixed(digits === undefined ? 2 : digits);
  }

  function legend(root, x, y, entries) {
    entries.forEach(function (entry, i) {
      var row = y + i * 18;
      el("rect", { x: x, y: row - 9, width: 12, height: 12, fill: entry.colour, rx: 2 }, root);
      label(root, x + 18, row + 1, entry.name);
    });
  }

  function yAxis(root, left, top, height, width, low, high, digits) {
    var grid = el("g", { "class": "grid" }, root);
    var raw = (high - low) / 5, power = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (k) { return k * power; })
      .filter(function (k) { return k >= raw; })[0];
    for (var value = Math.ceil(low / step) * step; value <= high + step * 1e-6; value += step) {
      var y = top + height - (value - low) / (high - low) * height;
      el("line", { x1: left, x2: left + width, y1: y, y2: y }, grid);
      label(root, left - 6, y + 4, fmt(Math.abs(value) < step * 1e-6 ? 0 : value, digits),
        { "text-anchor": "end" });
    }
  }

  // Engagement over time: completed contacts per participant, month since enrolment.
  function engagement(host, series) {
    var W = 760, H = 320, L = 52, R = 220, T = 16, B = 42;
    var root = svg(host, W, H, "Completed contacts per participant by month since enrolment");
    var max = 0, months = 12;
    series.forEach(function (s) {
      s.points.forEach(function (p) { if (p[1] !== null && p[1] > max) { max = p[1]; } });
    });
    var any = series.some(function (s) {
      return s.points.some(function (p) { return p[1] !== null; });
    });
    if (!any) { return empty(root, W, H); }
    var top = niceMax(max), w = W - L - R, h = H - T - B;
    yAxis(root, L, T, h, w, 0, top, 1);
    function x(month) { return L + (month - 1) / (months - 1) * w; }
    function y(value) { return T + h - value / top * h; }
    for (var m = 1; m <= months; m++) {
      label(root, x(m), H - B + 16, String(m), { "text-anchor": "middle" });
    }
    label(root, L + w / 2, H - 6, "month since enrolment", { "text-anchor": "middle" });
    var marks = 0;
    series.forEach(function (s, index) {
      var segment = [];
      function flush() {
        if (segment.length > 1) {
          el("polyline", { points: segment.join(" "), fill: "none", stroke: colour(index),
            "stroke-width": 2.2, "stroke-linejoin": "round" }, root);
        }
        segment = [];
      }
      s.points.forEach(function (p) {
        if (p[1] === null) { flush(); return; }
        segment.push(x(p[0]) + "," + y(p[1]));
        var dot = el("circle", { cx: x(p[0]), cy: y(p[1]), r: 3.2, fill: colour(index) }, root);
        tip(dot, s.model + ", month " + p[0] + ": " + fmt(p[1]) + " (n=" + p[2] + ")");
        marks++;
      });
      flush();
    });
    legend(root, W - R + 18, T + 10, series.map(function (s, i) {
      return { name: s.model, colour: colour(i) };
    }));
    return marks;
  }

  // Time to closure: share of gaps per closure-time bin, one bar per gap type.
  function closure(host, rows) {
    var order = ["0-30", "31-60", "61-90", ">90", "open", "cancelled"];
    var names = { "0-30": "closed in 0-30 d", "31-60": "31-60 d", "61-90": "61-90 d",
      ">90": "over 90 d", "open": "still open", "cancelled": "cancelled" };
    var row = 24, L = 180, R = 90, T = 34, W = 760;
    var H = T + Math.max(rows.length, 1) * row + 16;
    var root = svg(host, W, H, "Time to closure per gap type");
    if (!rows.length) { return empty(root, W, H); }
    var w = W - L - R, marks = 0, legendX = L;
    order.forEach(function (key) {
      el("rect", { x: legendX, y: 6, width: 11, height: 11, fill: BIN_COLOURS[key], rx: 2 }, root);
      label(root, legendX + 15, 15, names[key]);
      legendX += 15 + names[key].length * 6 + 18;
    });
    rows.forEach(function (r, i) {
      var y = T + i * row;
      var total = order.reduce(function (sum, key) { return sum + (r.bins[key] || 0); }, 0);
      label(root, L - 8, y + 14, r.code, { "text-anchor": "end" });
      label(root, W - R + 8, y + 14, total + " gaps");
      var x = L;
      order.forEach(function (key) {
        var count = r.bins[key] || 0;
        if (!total || !count) { return; }
        var width = count / total * w;
        var bar = el("rect", { x: x, y: y + 3, width: width, height: row - 8,
          fill: BIN_COLOURS[key] }, root);
        tip(bar, r.code + ": " + names[key] + " " + count + " of " + total +
          " (" + fmt(100 * count / total, 0) + " %)");
        x += width;
        marks++;
      });
    });
    return marks;
  }

  // Gap funnel per model: opened -> closed -> closed within 90 days (care gaps).
  function funnel(host, rows) {
    var stages = [["opened", "opened"], ["closed", "closed by the end"],
      ["closed_90", "closed within 90 days"]];
    var band = 3 * 16 + 18, L = 200, R = 120, T = 30, W = 760;
    var H = T + Math.max(rows.length, 1) * band + 8;
    var root = svg(host, W, H, "Care-gap funnel per model");
    if (!rows.length) { return empty(root, W, H); }
    var w = W - L - R, marks = 0;
    var shades = ["#3a7bd5", "#57ae5b", "#0b6e4f"];
    stages.forEach(function (stage, i) {
      el("rect", { x: L + i * 170, y: 6, width: 11, height: 11, fill: shades[i], rx: 2 }, root);
      label(root, L + i * 170 + 15, 15, stage[1]);
    });
    rows.forEach(function (r, i) {
      var y = T + i * band;
      label(root, L - 8, y + 28, r.model, { "text-anchor": "end" });
      stages.forEach(function (stage, j) {
        var value = r[stage[0]];
        var width = r.opened ? value / r.opened * w : 0;
        var bar = el("rect", { x: L, y: y + j * 16, width: Math.max(width, 0.5), height: 13,
          fill: shades[j], rx: 2 }, root);
        tip(bar, r.model + ": " + stage[1] + " " + value);
        var share = r.opened ? " (" + fmt(100 * value / r.opened, 0) + " %)" : "";
        label(root, L + width + 6, y + j * 16 + 11, value + (j ? share : ""));
        marks++;
      });
    });
    return marks;
  }

  // HbA1c change by baseline stratum, one bar per model (negative = HbA1c fell).
  function hba1c(host, chart) {
    var W = 760, H = 320, L = 52, R = 220, T = 20, B = 40;
    var root = svg(host, W, H, "Mean HbA1c change by baseline stratum");
    var values = [];
    chart.series.forEach(function (s) {
      s.values.forEach(function (v) { if (v[0] !== null) { values.push(v[0]); } });
    });
    if (!values.length) { return empty(root, W, H); }
    var most = Math.max(0, Math.max.apply(null, values));
    var least = Math.min(0, Math.min.apply(null, values));
    var low = least < 0 ? -niceMax(-least) : 0;
    var high = most > 0 ? niceMax(most) : (low < 0 ? -low / 4 : 1);
    var w = W - L - R, h = H - T - B;
    yAxis(root, L, T, h, w, low, high, 2);
    function y(value) { return T + h - (value - low) / (high - low) * h; }
    el("line", { x1: L, x2: L + w, y1: y(0), y2: y(0), "class": "zero" }, root);
    var groups = chart.strata.length, groupWidth = w / groups;
    var barWidth = Math.min(28, (groupWidth - 20) / Math.max(chart.series.length, 1));
    var marks = 0;
    chart.strata.forEach(function (stratum, g) {
      var left = L + g * groupWidth + (groupWidth - barWidth * chart.series.length) / 2;
      label(root, L + g * groupWidth + groupWidth / 2, H - B + 18, "baseline " + stratum + " %",
        { "text-anchor": "middle" });
      chart.series.forEach(function (s, i) {
        var v = s.values[g], x = left + i * barWidth;
        if (v[0] === null) {
          var mark = v[2] ? "s" : "\u2013";
          label(root, x + barWidth / 2, y(0) - 4, mark, { "text-anchor": "middle" });
          return;
        }
        var top = y(Math.max(0, v[0])), bottom = y(Math.min(0, v[0]));
        var bar = el("rect", { x: x + 1, y: top, width: barWidth - 2,
          height: Math.max(bottom - top, 0.5), fill: colour(i) }, root);
        tip(bar, s.model + ", baseline " + stratum + ": " + fmt(v[0]) + " points (n=" + v[1] + ")");
        marks++;
      });
    });
    label(root, 14, T + h / 2, "change, points", { transform: "rotate(-90 14 " + (T + h / 2) + ")",
      "text-anchor": "middle" });
    legend(root, W - R + 18, T + 10, chart.series.map(function (s, i) {
      return { name: s.model, colour: colour(i) };
    }).concat([{ name: "s = suppressed (n < " + data.min_cell + ")", colour: "#ffffff" }]));
    return marks;
  }

  var drawn = 0;
  [["chart-engagement", engagement, data.engagement],
   ["chart-closure", closure, data.closure],
   ["chart-funnel", funnel, data.funnel],
   ["chart-hba1c", hba1c, data.hba1c]].forEach(function (spec) {
    var host = document.getElementById(spec[0]);
    var marks = spec[1](host, spec[2]);
    host.setAttribute("data-marks", String(marks));
    if (marks > 0) { drawn++; }
  });
  document.documentElement.setAttribute("data-charts-drawn", String(drawn));
  document.documentElement.setAttribute("data-render", "done");
})();
"""
