#include "cli/dashboard_page.h"

namespace flowps {

// The page polls /api/state every second and redraws. It marks what it drew
// on <body> (data-step, data-points) so that a test can read it, and counts
// script errors in data-errors.
const char kDashboardPage[] = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>flowps dashboard</title>
<style>
body { font-family: sans-serif; margin: 16px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
#summary { color: #555; margin-bottom: 12px; }
.charts { display: flex; gap: 16px; flex-wrap: wrap; }
.chart { background: #fff; border: 1px solid #ddd; padding: 8px; }
.chart h2, .tables h2 { font-size: 14px; margin: 0 0 6px 0; }
table { border-collapse: collapse; background: #fff; margin-bottom: 12px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.straggler { color: #b00; font-weight: bold; }
</style>
</head>
<body data-step="-1" data-points="0" data-errors="0">
<h1>flowps: <span id="job">no job</span></h1>
<div id="summary">waiting for the cluster</div>
<div class="charts">
  <div class="chart"><h2>training loss</h2><canvas id="loss" width="520" height="260"></canvas></div>
  <div class="chart"><h2>test accuracy</h2><canvas id="accuracy" width="520" height="260"></canvas></div>
</div>
<div class="tables">
  <h2>workers</h2>
  <table id="workers"><thead><tr><th>task</th><th>state</th><th>steps</th><th>steps/s</th><th>examples/s</th>
    <th>compute ms</th><th>push ms</th><th>wait ms</th><th>staleness</th><th>stale pushes</th><th>memory</th><th></th></tr></thead><tbody></tbody></table>
  <h2>ps shards</h2>
  <table id="shards"><thead><tr><th>task</th><th>step</th><th>pushes/s</th><th>applied</th><th>stale</th>
    <th>waiting</th><th>apply ms</th><th>variables</th><th>memory</th></tr></thead><tbody></tbody></table>
</div>
<script>
"use strict";
window.addEventListener("error", () => {
  document.body.dataset.errors = String(Number(document.body.dataset.errors) + 1);
});

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return (u === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[u];
}

function drawCurve(id, points, color, fixedMax) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 50, bottom = 24;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#999";
  ctx.beginPath(); ctx.moveTo(left, 4); ctx.lineTo(left, h - bottom); ctx.lineTo(w - 4, h - bottom); ctx.stroke();
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
  if (points.length === 0) { ctx.fillText("no data yet", left + 10, 20); return; }
  const maxX = Math.max(1, points[points.length - 1][0]);
  const minX = points[0][0];
  let maxY = fixedMax !== undefined ? fixedMax : Math.max(...points.map(p => p[1]));
  if (maxY <= 0) maxY = 1;
  const x = v => left + (w - left - 8) * (maxX === minX ? 1 : (v - minX) / (maxX - minX));
  const y = v => (h - bottom) - (h - bottom - 8) * (v / maxY);
  ctx.fillText(maxY.toFixed(3), 2, 12);
  ctx.fillText("0", 36, h - bottom);
  ctx.fillText("step " + minX, left, h - 6);
  ctx.fillText("step " + maxX, w - 70, h - 6);
  ctx.strokeStyle = color; ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => { if (i === 0) ctx.moveTo(x(p[0]), y(p[1])); else ctx.lineTo(x(p[0]), y(p[1])); });
  ctx.stroke();
  points.forEach(p => { ctx.fillStyle = color; ctx.fillRect(x(p[0]) - 2, y(p[1]) - 2, 4, 4); });
}

function cells(values) {
  const tr = document.createElement("tr");
  values.forEach(v => { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
  return tr;
}

function render(s) {
  document.getElementById("job").textContent = s.job || "no job";
  let summary = s.state + ": step " + s.global_step + " / " + s.total_steps + ", " + s.steps_per_s.toFixed(1) +
                " steps/s, loss " + s.loss.toFixed(4);
  if (s.test_accuracy >= 0) summary += ", test accuracy " + (100 * s.test_accuracy).toFixed(2) + "%";
  document.getElementById("summary").textContent = summary;
  drawCurve("loss", s.loss_curve, "#1f77b4");
  drawCurve("accuracy", s.accuracy_curve, "#2ca02c", 1);
  const workers = document.querySelector("#workers tbody");
  workers.replaceChildren(...s.workers.map(wk => {
    const tr = cells([wk.task, wk.state, wk.steps, wk.steps_per_s.toFixed(1), wk.examples_per_s.toFixed(0),
                      wk.compute_ms.toFixed(2), wk.push_ms.toFixed(2), wk.wait_ms.toFixed(2),
                      wk.staleness.toFixed(2), wk.stale, bytes(wk.resident_bytes),
                      (wk.chief ? "chief " : "") + (wk.straggler ? "STRAGGLER" : "")]);
    if (wk.straggler) tr.className = "straggler";
    return tr;
  }));
  const shards = document.querySelector("#shards tbody");
  shards.replaceChildren(...s.shards.map(sh => cells([sh.task, sh.global_step, sh.pushes_per_s.toFixed(1),
      sh.applied, sh.stale, sh.waiting, sh.apply_ms.toFixed(3), bytes(sh.variable_bytes), bytes(sh.resident_bytes)])));
  document.body.dataset.step = String(s.global_step);
  document.body.dataset.points = String(s.loss_curve.length);
}

function poll() {
  fetch("/api/state", {cache: "no-store"})
    .then(r => r.json())
    .then(render)
    .catch(() => { document.getElementById("summary").textContent = "the chief does not answer"; })
    .finally(() => setTimeout(poll, 1000));
}
poll();
</script>
</body>
</html>
)PAGE";

}  // namespace flowps
