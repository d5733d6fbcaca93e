// The drive page's charts (functions/pages/drive.tsx): stacked uPlot panels on one time axis with a synced
// cursor, each parameter drawn with the band of its readings' minimum and maximum per point, so a peak is never
// lost to downsampling. Dragging across a chart zooms every chart to that window, read again from the server at
// full resolution, and the window's statistics follow. No network beyond this server.
"use strict";
(function () {
  var source = document.getElementById("drive-data");
  if (!source || !window.uPlot || !window.obd2) return;
  var d = JSON.parse(source.textContent);
  var base = "/api/v1/drives/" + encodeURIComponent(d.deviceId) + "/" + d.driveId;
  var holder = document.getElementById("charts");
  var status = document.getElementById("chart-status");
  var reset = document.getElementById("zoom-reset");
  var picker = document.getElementById("add-parameter");
  var css = getComputedStyle(document.documentElement);
  var ink = css.getPropertyValue("--fg").trim() || "#888";
  var grid = css.getPropertyValue("--line").trim() || "#ccc";
  var COLORS = ["#e8590c", "#1c7ed6", "#2f9e44", "#ae3ec9"];
  var MARKER = { alert: "#f59f00", dtc: "#e03131" };
  var POINTS = 1500;
  var panels = d.panels.slice();
  var charts = [];
  var firstDraw = null; // the performance mark where the first charts' construction began, until they have drawn
  var view = null; // null: the whole drive; else {from, to} in epoch ms
  // For the bench and the tests: how long the first draw of all panels took (also the "drive-charts" performance
  // measure), and what each chart holds.
  var state = (window.obd2.drive = { chartDrawMs: null, markersDrawn: 0, loads: 0, charts: charts });

  var iso = function (ms) { return new Date(ms).toISOString(); };
  var unitOf = function (name) { return d.units[name] || ""; };

  function seriesUrl(names) {
    var q = "parameters=" + encodeURIComponent(names.join(",")) + "&points=" + POINTS;
    if (view) q += "&from=" + iso(view.from) + "&to=" + iso(view.to);
    return base + "/series?" + q;
  }

  function fetchJson(url) {
    return window.obd2.api(url).then(function (res) {
      if (!res.ok) return res.json().then(function (body) { throw new Error(body.detail || res.status + " from " + url); });
      return res.json();
    });
  }

  // One chart's data: the parameters' [t, v, min, max] joined on one x (undefined where a parameter has no point).
  function dataOf(names, series) {
    return uPlot.join(names.map(function (n) {
      var s = series[n] || { t: [], v: [], min: [], max: [] };
      return [s.t, s.v, s.min, s.max];
    }));
  }

  function drawMarkers(u) {
    var ctx = u.ctx, top = u.bbox.top, bottom = top + u.bbox.height, drawn = 0;
    ctx.save();
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio]);
    d.markers.forEach(function (m) {
      if (m.t < u.scales.x.min || m.t > u.scales.x.max) return;
      var x = Math.round(u.valToPos(m.t, "x", true));
      ctx.strokeStyle = MARKER[m.kind] || ink;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      drawn++;
    });
    ctx.restore();
    if (u === charts[0]) state.markersDrawn = drawn;
    // The first draw of the last panel ends the measured time: construction, layout and the canvas work.
    if (firstDraw !== null && u === charts[panels.length - 1]) {
      state.chartDrawMs = performance.measure("drive-charts", "drive-charts-start").duration;
      firstDraw = null;
    }
  }

  // The synced cursor hands a selection to every chart, so each one's hook fires: the first of a burst zooms.
  var zooming = false;
  function zoomTo(u) {
    if (zooming || u.select.width < 4) return;
    zooming = true;
    var from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
    setTimeout(function () {
      charts.forEach(function (c) { c.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false); });
      zooming = false;
    });
    view = { from: Math.floor(from), to: Math.ceil(to) };
    reload();
  }

  function build(names, series) {
    var opts = {
      width: Math.max(280, holder.clientWidth),
      height: 190,
      ms: 1,
      cursor: { sync: { key: "drive-" + d.driveId }, drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: true } },
      series: [{}],
      bands: [],
      axes: [{ stroke: ink, grid: { stroke: grid } }],
      hooks: { setSelect: [zoomTo], draw: [drawMarkers] },
    };
    var scales = [];
    names.forEach(function (n, i) {
      var color = COLORS[i % COLORS.length], scale = unitOf(n) || n;
      var at = opts.series.length;
      opts.series.push(
        { label: n + (unitOf(n) ? " (" + unitOf(n) + ")" : ""), scale: scale, stroke: color, width: 1.5 },
        { label: n + " min", scale: scale, stroke: "transparent", class: "band-edge" },
        { label: n + " max", scale: scale, stroke: "transparent", class: "band-edge" },
      );
      opts.bands.push({ series: [at + 2, at + 1], fill: color + "33" });
      if (scales.indexOf(scale) === -1) {
        // The first two units get an axis (left, right); more share the legend's values.
        if (scales.length < 2) opts.axes.push({ scale: scale, side: scales.length ? 1 : 3, stroke: ink, grid: { show: scales.length === 0, stroke: grid }, label: unitOf(n) || n, size: 55 });
        scales.push(scale);
      }
    });
    var box = document.createElement("div");
    box.className = "chart";
    box.setAttribute("data-parameters", names.join(","));
    holder.appendChild(box);
    var u = new uPlot(opts, dataOf(names, series), box);
    u.root.querySelectorAll(".u-legend .u-series").forEach(function (row, i) {
      if (opts.series[i] && opts.series[i].class === "band-edge") row.classList.add("band-edge");
    });
    u.names = names;
    charts.push(u);
    return u;
  }

  function showStats(stats) {
    var body = document.querySelector("#window-stats tbody");
    var label = document.getElementById("window-label");
    var fmt = function (x) { return Number.isInteger(x) ? String(x) : x.toFixed(2); };
    body.textContent = "";
    stats.parameters.forEach(function (p) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-parameter", p.parameter);
      [["Parameter", p.parameter], ["Readings", String(p.count), "count"], ["Min", fmt(p.min), "min"], ["Mean", fmt(p.mean), "mean"], ["Max", fmt(p.max), "max"], ["p95", fmt(p.p95), "p95"], ["Unit", p.unit || ""]].forEach(function (c, i) {
        var td = document.createElement("td");
        td.textContent = c[1];
        td.setAttribute("data-label", c[0]);
        if (c[2]) td.setAttribute("data-field", c[2]);
        if (i > 0 && i < 6) td.className = "num";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var f = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
    label.textContent = view ? "window " + f.format(new Date(stats.from)) + "–" + f.format(new Date(stats.to)) : "whole drive";
    label.title = stats.from + " – " + stats.to + " (UTC)";
  }

  // The whole drive's series as first read, and its statistics as the server rendered them (the stored summary):
  // zooming out shows them again without asking (the whole drive's statistics from raw rows take the server
  // most of a second on a 4-hour drive).
  var whole = {};
  var wholeStats = document.querySelector("#window-stats tbody").cloneNode(true);
  function remember(series) {
    if (!view) Object.keys(series).forEach(function (n) { whole[n] = series[n]; });
  }
  var IDLE = "Drag across a chart to zoom; the zoomed window is read again at full resolution.";

  function reload() {
    var names = panels.reduce(function (all, p) { return all.concat(p); }, []);
    reset.disabled = !view;
    if (!view && names.every(function (n) { return whole[n]; })) {
      charts.forEach(function (u) { u.setData(dataOf(u.names, whole)); });
      document.querySelector("#window-stats tbody").replaceWith(wholeStats.cloneNode(true));
      var label = document.getElementById("window-label");
      label.textContent = "whole drive";
      label.removeAttribute("title");
      state.loads++;
      status.textContent = IDLE;
      return Promise.resolve();
    }
    status.textContent = "Loading…";
    var stats = base + "/stats" + (view ? "?from=" + iso(view.from) + "&to=" + iso(view.to) : "");
    return Promise.all([fetchJson(seriesUrl(names)), fetchJson(stats)]).then(function (answers) {
      var series = answers[0].series;
      remember(series);
      charts.forEach(function (u) { u.setData(dataOf(u.names, series)); });
      showStats(answers[1]);
      state.loads++;
      status.textContent = view ? "Zoomed in: every chart shows this window at full resolution." : IDLE;
    }).catch(function (err) {
      status.textContent = "Could not load the readings: " + err.message;
    });
  }

  reset.addEventListener("click", function () {
    view = null;
    reload();
  });

  if (picker) picker.addEventListener("change", function () {
    var name = picker.value;
    if (!name) return;
    picker.querySelector('option[value="' + CSS.escape(name) + '"]').remove();
    picker.value = "";
    panels.push([name]);
    fetchJson(seriesUrl([name])).then(function (answer) {
      remember(answer.series);
      build([name], answer.series);
    });
  });

  window.addEventListener("resize", function () {
    charts.forEach(function (u) { u.setSize({ width: Math.max(280, holder.clientWidth), height: 190 }); });
  });

  var names = panels.reduce(function (all, p) { return all.concat(p); }, []);
  if (!names.length) {
    status.textContent = "This drive has no readings to chart yet.";
    return;
  }
  fetchJson(seriesUrl(names)).then(function (answer) {
    remember(answer.series);
    firstDraw = performance.mark("drive-charts-start");
    panels.forEach(function (p) { build(p, answer.series); });
    state.loads++;
  }).catch(function (err) {
    status.textContent = "Could not load the readings: " + err.message;
  });
})();
