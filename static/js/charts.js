// Draws every <canvas data-chart="ID"> from the JSON in <script id="ID" type="application/json">
// ({type, labels, datasets: [{label, data}]}). The same figures are in the table under each chart.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.Chart) return;
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    const spec = JSON.parse(source.textContent);
    const chart = new Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: spec.datasets },
      options: { responsive: true, animation: false, plugins: { legend: { display: spec.datasets.length > 1 } },
                 scales: spec.type === "doughnut" ? {} : { y: { beginAtZero: true } } },
    });
    canvas.dataset.drawn = String(chart.data.labels.length);
  });
});
