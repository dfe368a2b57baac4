// The experiment page's cost-vs-score scatter (best trade-offs drawn larger and filled) and the
// suite page's score-over-time lines. Data comes from <script type="application/json"> blocks.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.Chart) return;
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };

  const scatter = document.querySelector("canvas[data-points]");
  if (scatter) {
    const spec = read(scatter.dataset.points);
    const points = (spec && spec.points || []).filter((p) => p.cost !== null && p.score !== null);
    const front = points.filter((p) => p.pareto).sort((a, b) => a.cost - b.cost);
    new Chart(scatter, {
      type: "scatter",
      data: { datasets: [
        { label: "Variants", data: points.map((p) => ({ x: p.cost, y: p.score, label: p.label })),
          pointRadius: points.map((p) => (p.pareto ? 8 : 4)) },
        { label: "Best trade-offs", type: "line", data: front.map((p) => ({ x: p.cost, y: p.score, label: p.label })),
          showLine: true, fill: false, pointRadius: 0 },
      ] },
      options: { animation: false, scales: { x: { title: { display: true, text: "cost (USD)" } },
                                             y: { min: 0, max: 1, title: { display: true, text: "score" } } },
                 plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.raw.label}: ${ctx.raw.y.toFixed(3)} at $${ctx.raw.x}` } } } },
    });
    scatter.dataset.drawn = String(points.length);
  }

  const history = document.querySelector("canvas[data-history]");
  if (history) {
    const spec = read(history.dataset.history);
    const byVariant = {};
    (spec && spec.points || []).forEach((p) => {
      if (p.score === null) return;
      (byVariant[p.variant] = byVariant[p.variant] || []).push({ x: p.at.slice(0, 16), y: p.score });
    });
    const labels = [...new Set((spec.points || []).map((p) => p.at.slice(0, 16)))];
    new Chart(history, {
      type: "line",
      data: { labels, datasets: Object.entries(byVariant).map(([label, data]) => ({ label, data, spanGaps: true })) },
      options: { animation: false, scales: { y: { min: 0, max: 1 } } },
    });
    history.dataset.drawn = String(labels.length);
  }
});
