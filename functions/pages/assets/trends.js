// The trends page's charts (functions/pages/trends.tsx): for each device, one small uPlot per metric drawn from
// the page's own table (so the numbers read without script too), one point per drive, the anomalous ones in red.
"use strict";
(function () {
  if (!window.uPlot) return;
  var css = getComputedStyle(document.documentElement);
  var ink = css.getPropertyValue("--fg").trim() || "#888";
  var grid = css.getPropertyValue("--line").trim() || "#ccc";
  var drawn = 0;
  document.querySelectorAll('section[data-device] table[data-field="trends"]').forEach(function (table) {
    var rows = [].slice.call(table.querySelectorAll("tbody tr"));
    if (rows.length < 2) return;
    var x = rows.map(function (tr) { return new Date(tr.querySelector("time").getAttribute("datetime")).getTime(); });
    var holder = document.createElement("div");
    holder.className = "trend-charts";
    table.parentNode.parentNode.insertBefore(holder, table.parentNode);
    [].slice.call(table.querySelectorAll("thead th")).slice(1).forEach(function (th, i) {
      var cells = rows.map(function (tr) { return tr.children[i + 1]; });
      var field = cells[0].getAttribute("data-field");
      var y = cells.map(function (td) { var v = td.getAttribute("data-value"); return v === "" ? null : Number(v); });
      var odd = cells.map(function (td, k) { return td.getAttribute("data-anomaly") === "1" ? y[k] : null; });
      var box = document.createElement("div");
      box.className = "chart";
      box.setAttribute("data-metric", field);
      holder.appendChild(box);
      new uPlot({
        title: th.textContent,
        width: Math.max(240, box.clientWidth - 8),
        height: 160,
        ms: 1,
        legend: { show: false },
        axes: [{ stroke: ink, grid: { stroke: grid } }, { stroke: ink, grid: { stroke: grid }, size: 50 }],
        series: [
          {},
          { stroke: "#1c7ed6", width: 1.5, points: { show: true, size: 4 }, spanGaps: true },
          { stroke: "transparent", points: { show: true, size: 9, fill: "#e03131", stroke: "#e03131" } },
        ],
      }, [x, y, odd], box);
      drawn++;
    });
  });
  window.obd2 = window.obd2 || {};
  window.obd2.trendCharts = drawn;
})();
