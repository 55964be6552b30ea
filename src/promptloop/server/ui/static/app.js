/* promptloop dashboard: theme toggle, keyboard navigation, charts (Chart.js, vendored). */
(function () {
  "use strict";

  // ------------------------------------------------------------------ theme
  var root = document.documentElement;
  function effectiveTheme() {
    var chosen = root.getAttribute("data-theme");
    if (chosen === "dark" || chosen === "light") return chosen;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function setTheme(theme) {
    root.setAttribute("data-theme", theme);
    try { localStorage.setItem("pl-theme", theme); } catch (e) { /* private mode */ }
    showTheme(theme);
  }
  function showTheme(theme) {
    var button = document.getElementById("theme-toggle");
    if (button) {
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
      button.textContent = theme === "dark" ? "☀ Light" : "☾ Dark";
    }
    renderCharts();
  }
  function toggleTheme() { setTheme(effectiveTheme() === "dark" ? "light" : "dark"); }

  // ------------------------------------------------------------------ keyboard
  var pendingG = false;
  var GO = { o: "/", p: "/prompts", i: "/interactions", f: "/patterns", a: "/alerts", r: "/review" };

  function rowsTable() { return document.querySelector("table.nav-rows"); }
  function rows() {
    var table = rowsTable();
    return table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-href]")) : [];
  }
  function selectRow(index) {
    var all = rows();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row) { row.classList.remove("selected"); row.removeAttribute("aria-selected"); });
    var row = all[index];
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    row.scrollIntoView({ block: "nearest" });
  }
  function selectedIndex() {
    return rows().findIndex(function (row) { return row.classList.contains("selected"); });
  }
  function isTyping(target) {
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  function focusSearch() {
    var box = document.querySelector("[data-search]") || document.getElementById("global-search");
    if (box) { box.focus(); if (box.select) box.select(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var dialog = document.getElementById("shortcuts");
    if (pendingG) {
      pendingG = false;
      if (GO[event.key]) { event.preventDefault(); window.location.href = GO[event.key]; }
      return;
    }
    switch (event.key) {
      case "/": event.preventDefault(); focusSearch(); break;
      case "j": event.preventDefault(); selectRow(selectedIndex() + 1); break;
      case "k": event.preventDefault(); selectRow(Math.max(0, selectedIndex() - 1)); break;
      case "Enter": {
        var index = selectedIndex();
        if (index >= 0) { event.preventDefault(); window.location.href = rows()[index].getAttribute("data-href"); }
        break;
      }
      case "n": {
        var next = document.querySelector("a[rel=next]");
        if (next) { event.preventDefault(); window.location.href = next.href; }
        break;
      }
      case "t": event.preventDefault(); toggleTheme(); break;
      case "g": pendingG = true; break;
      case "?": event.preventDefault(); if (dialog && !dialog.open) dialog.showModal(); break;
      default: break;
    }
  });

  // Rows are links: a click anywhere on one opens it (but not its own links and buttons).
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("tr[data-href]");
    if (!row || event.target.closest("a, button, input, select, form")) return;
    window.location.href = row.getAttribute("data-href");
  });

  // ------------------------------------------------------------------ charts
  var charts = [];
  function css(name) { return getComputedStyle(root).getPropertyValue(name).trim(); }
  function palette() {
    return [1, 2, 3, 4, 5, 6].map(function (i) { return css("--chart-" + i); });
  }
  function pct(value) { return value == null ? "–" : (100 * value).toFixed(1) + "%"; }
  function day(ms) { return new Date(ms).toISOString().slice(0, 10); }
  function stamp(value) { return typeof value === "number" ? value : Date.parse(value); }
  function dataOf(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    return source ? JSON.parse(source.textContent) : null;
  }
  function baseOptions() {
    var text = css("--muted"), grid = css("--grid");
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      color: text,
      plugins: { legend: { labels: { color: text, boxWidth: 12 } }, tooltip: { intersect: false, mode: "nearest" } },
      scales: {
        x: { type: "linear", ticks: { color: text, maxTicksLimit: 8, callback: function (v) { return day(v); } }, grid: { color: grid } },
        y: { ticks: { color: text, callback: function (v) { return pct(v); } }, grid: { color: grid }, beginAtZero: true }
      }
    };
  }
  // Vertical lines with labels: deployments on the rate charts.
  var markerPlugin = {
    id: "markers",
    afterDatasetsDraw: function (chart, _args, options) {
      var marks = (options && options.items) || [];
      if (!marks.length) return;
      var ctx = chart.ctx, area = chart.chartArea, x = chart.scales.x;
      ctx.save();
      ctx.strokeStyle = css("--warn");
      ctx.fillStyle = css("--warn");
      ctx.setLineDash([4, 3]);
      ctx.font = "11px system-ui, sans-serif";
      marks.forEach(function (mark) {
        var px = x.getPixelForValue(stamp(mark.t));
        if (px < area.left || px > area.right) return;
        ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
        ctx.fillText(mark.label, Math.min(px + 3, area.right - 60), area.top + 10);
      });
      ctx.restore();
    }
  };
  // Quadrant split lines and their names.
  var quadrantPlugin = {
    id: "quadrants",
    beforeDatasetsDraw: function (chart, _args, options) {
      if (!options || options.x == null) return;
      var ctx = chart.ctx, area = chart.chartArea;
      var px = chart.scales.x.getPixelForValue(options.x), py = chart.scales.y.getPixelForValue(options.y);
      ctx.save();
      ctx.strokeStyle = css("--border");
      ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(area.left, py); ctx.lineTo(area.right, py); ctx.stroke();
      ctx.fillStyle = css("--muted");
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText("rare & severe: address promptly", area.left + 6, area.top + 14);
      ctx.textAlign = "right";
      ctx.fillText("frequent & severe: next sprint", area.right - 6, area.top + 14);
      ctx.fillText("frequent & mild: batch into prompt maintenance", area.right - 6, area.bottom - 6);
      ctx.textAlign = "left";
      ctx.fillText("rare & mild: monitor", area.left + 6, area.bottom - 6);
      ctx.restore();
    },
    afterDatasetsDraw: function (chart) {
      var meta = chart.getDatasetMeta(0), points = chart.data.datasets[0].data;
      var ctx = chart.ctx;
      ctx.save();
      ctx.fillStyle = css("--text");
      ctx.font = "12px system-ui, sans-serif";
      meta.data.forEach(function (element, i) {
        var label = String(points[i].label || "");
        if (label.length > 38) label = label.slice(0, 37) + "…";
        ctx.fillText(label, element.x + 10 + Math.sqrt(points[i].size || 1) / 2, element.y + 4);
      });
      ctx.restore();
    }
  };

  var builders = {
    lines: function (canvas, spec) {
      var colors = palette();
      var select = document.getElementById(canvas.getAttribute("data-rate-select") || "");
      var rate = select ? select.value : spec.rate;
      var datasets = Object.keys(spec.series).map(function (name, i) {
        return {
          label: name,
          data: spec.series[name].map(function (p) { return { x: stamp(p.t), y: p[rate], n: p.n }; }),
          borderColor: colors[i % colors.length],
          backgroundColor: colors[i % colors.length],
          pointRadius: 2,
          borderWidth: 2,
          spanGaps: false
        };
      });
      var options = baseOptions();
      options.plugins.markers = { items: spec.markers || [] };
      options.plugins.tooltip.callbacks = {
        title: function (items) { return items.length ? day(items[0].parsed.x) : ""; },
        label: function (item) { return item.dataset.label + ": " + pct(item.parsed.y) + " (n=" + item.raw.n + ")"; }
      };
      return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: options, plugins: [markerPlugin] });
    },
    quadrant: function (canvas, spec) {
      var colors = palette();
      var options = baseOptions();
      var widest = Math.max.apply(null, spec.points.map(function (p) { return p.x || 0; }).concat([spec.xSplit]));
      options.scales.x = { type: "linear", min: 0, max: Math.min(1, widest * 1.6), title: { display: true, text: "frequency", color: css("--muted") },
        ticks: { color: css("--muted"), callback: function (v) { return pct(v); } }, grid: { color: css("--grid") } };
      options.scales.y = { min: 0, max: 1, title: { display: true, text: "severity", color: css("--muted") },
        ticks: { color: css("--muted"), callback: function (v) { return pct(v); } }, grid: { color: css("--grid") } };
      options.plugins.quadrants = { x: spec.xSplit, y: spec.ySplit };
      options.plugins.legend = { display: false };
      options.plugins.tooltip = { callbacks: { label: function (item) {
        return item.raw.label + ": " + pct(item.raw.x) + " of failures, severity " + pct(item.raw.y) + " (" + item.raw.size + ")";
      } } };
      options.onClick = function (_e, elements) {
        if (elements.length) { window.location.hash = "cluster-" + spec.points[elements[0].index].id; }
      };
      var data = { datasets: [{ data: spec.points, backgroundColor: colors[1], borderColor: colors[1],
        pointRadius: spec.points.map(function (p) { return 4 + Math.min(14, Math.sqrt(p.size || 1)); }) }] };
      return new Chart(canvas, { type: "scatter", data: data, options: options, plugins: [quadrantPlugin] });
    },
    alert: function (canvas, spec) {
      var colors = palette();
      var points = spec.series.filter(function (p) { return p.start; });
      var options = baseOptions();
      options.scales.y.title = { display: true, text: "rate", color: css("--muted") };
      options.scales.cusum = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
        ticks: { color: css("--muted") }, title: { display: true, text: "CUSUM", color: css("--muted") } };
      var datasets = [
        { label: spec.metric + " rate", data: points.map(function (p) { return { x: stamp(p.start), y: p.rate, n: p.n }; }),
          borderColor: colors[0], backgroundColor: colors[0], pointRadius: 1.5, borderWidth: 2, yAxisID: "y" }
      ];
      if (spec.baseline != null && points.length) {
        datasets.push({ label: "baseline", data: [{ x: stamp(points[0].start), y: spec.baseline }, { x: stamp(points[points.length - 1].start), y: spec.baseline }],
          borderColor: colors[2], borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5, yAxisID: "y" });
      }
      if (points.some(function (p) { return p.cusum != null; })) {
        datasets.push({ label: "CUSUM", data: points.map(function (p) { return { x: stamp(p.start), y: p.cusum }; }),
          borderColor: colors[1], backgroundColor: colors[1], pointRadius: 0, borderWidth: 1.5, yAxisID: "cusum" });
        if (spec.threshold != null) {
          datasets.push({ label: "threshold h", data: [{ x: stamp(points[0].start), y: spec.threshold }, { x: stamp(points[points.length - 1].start), y: spec.threshold }],
            borderColor: colors[5], borderDash: [2, 3], pointRadius: 0, borderWidth: 1, yAxisID: "cusum" });
        }
      }
      options.plugins.markers = { items: spec.markers || [] };
      options.scales.x.ticks.callback = function (v) { return new Date(v).toISOString().slice(5, 16).replace("T", " "); };
      return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: options, plugins: [markerPlugin] });
    }
  };

  function renderCharts() {
    if (typeof Chart === "undefined") return;
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec = dataOf(canvas);
      var build = builders[canvas.getAttribute("data-kind")];
      if (spec && build) {
        charts.push(build(canvas, spec));
        canvas.setAttribute("data-rendered", "true");
      }
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-rerender]")) renderCharts();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", toggleTheme);
    var help = document.getElementById("help-button");
    var dialog = document.getElementById("shortcuts");
    if (help && dialog) help.addEventListener("click", function () { dialog.showModal(); });
    showTheme(effectiveTheme());
    // A page whose numbers are still being computed reloads itself until they are ready.
    if (document.querySelector("[data-pending]")) {
      window.setTimeout(function () { window.location.reload(); }, 1500);
    }
  });
})();
