// Hover read-outs and the log/linear switch. Everything the charts show is already in the
// SVG; this only adds values under the pointer. It also counts the charts that drew data
// (body[data-charts-drawn]) so a browser test can check the page really rendered.
(function () {
  "use strict";
  const figures = Array.from(document.querySelectorAll("figure.chart"));
  let drawn = 0;
  for (const figure of figures) {
    const svgs = figure.querySelectorAll("svg");
    // A line of two points or more, or a dot: a bucket alone between gaps.
    const hasData = Array.from(svgs).some((svg) =>
      svg.querySelector("circle") !== null ||
      Array.from(svg.querySelectorAll("polyline")).some((p) => (p.getAttribute("points") || "").trim().split(/\s+/).length > 1));
    if (hasData) drawn += 1;
    const data = figure.querySelector("script[type='application/json']");
    if (!data) continue;
    const chart = JSON.parse(data.textContent);
    const readout = figure.querySelector(".readout");
    figure.addEventListener("mousemove", (event) => {
      const visible = Array.from(svgs).findIndex((svg) => svg.getBoundingClientRect().width > 0);
      if (visible < 0) return;
      const rect = svgs[visible].getBoundingClientRect();
      const px = (event.clientX - rect.left) * chart.width / rect.width;
      const [left, right] = chart.areas[Math.min(visible, chart.areas.length - 1)];
      if (px < left || px > right) { readout.style.display = "none"; return; }
      const x = chart.x_range[0] + (px - left) / (right - left) * (chart.x_range[1] - chart.x_range[0]);
      const lines = chart.lines.map((line) => {
        let best = null;
        for (const point of line.points) {
          if (best === null || Math.abs(point[0] - x) < Math.abs(best[0] - x)) best = point;
        }
        return best === null ? null : line.name + ": " + best[1].toFixed(3) + " ms";
      }).filter((text) => text !== null);
      const where = chart.x_kind === "nines"
        ? (100 * (1 - Math.pow(10, -x))).toFixed(3) + "%"
        : x.toFixed(1) + " s";
      readout.textContent = where + "\n" + lines.join("\n");
      readout.style.left = (event.clientX - figure.getBoundingClientRect().left + 12) + "px";
      readout.style.top = (event.clientY - figure.getBoundingClientRect().top + 12) + "px";
      readout.style.display = "block";
    });
    figure.addEventListener("mouseleave", () => { readout.style.display = "none"; });
  }
  const toggle = document.getElementById("log-scale");
  if (toggle) {
    const apply = () => { document.body.className = toggle.checked ? "scale-log" : "scale-linear"; };
    toggle.addEventListener("change", apply);
    apply();
  }
  document.body.dataset.chartsDrawn = String(drawn);
  document.body.dataset.charts = String(figures.length);
})();
