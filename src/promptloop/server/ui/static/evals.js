// The eval comparison chart: pass rates of baseline and candidate (all, development, holdout).
(function () {
  "use strict";
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function pct(v) { return v == null ? "–" : (100 * v).toFixed(1) + "%"; }
  function render() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-eval-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-eval-chart"));
      if (!source) return;
      var spec = JSON.parse(source.textContent);
      var data = {
        labels: spec.labels,
        datasets: [
          { label: "baseline: " + spec.names[0], data: spec.baseline, backgroundColor: css("--muted") || "#888" },
          { label: "candidate: " + spec.names[1], data: spec.candidate, backgroundColor: css("--accent") || "#3366cc" }
        ]
      };
      var options = {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { min: 0, max: 1, ticks: { callback: function (v) { return pct(v); }, color: css("--muted") } },
                  x: { ticks: { color: css("--muted") } } },
        plugins: { legend: { labels: { color: css("--text") } },
                   tooltip: { callbacks: { label: function (item) { return item.dataset.label + ": " + pct(item.raw); } } } }
      };
      new Chart(canvas, { type: "bar", data: data, options: options });
      canvas.setAttribute("data-rendered", "true");
    });
  }
  document.addEventListener("DOMContentLoaded", render);
})();
