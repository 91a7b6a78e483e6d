// Small SVG bar charts for the history dashboard: our own code, no library, no network.
// Each element <div class="chart" data-chart="hbar|vbar" data-source="ID"> is drawn from the
// JSON array [{label, value}, …] in <script type="application/json" id="ID">; the numbers stay
// readable as text on the bars, so the chart works at a glance on a tablet.

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function fmt(n) {
  return Number(n).toLocaleString("vi-VN");
}

function truncate(label, max) {
  return label.length > max ? label.slice(0, max - 1) + "…" : label;
}

export function horizontalBars(container, rows, { variant = "" } = {}) {
  const width = Math.max(container.clientWidth || 480, 280);
  const labelWidth = Math.min(240, Math.round(width * 0.42));
  const rowHeight = 26;
  const height = rows.length * rowHeight + 8;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.appendChild(el("title", {}, rows.map((r) => `${r.label}: ${r.value}`).join("; ")));
  const chars = Math.floor(labelWidth / 7);
  rows.forEach((row, i) => {
    const y = 4 + i * rowHeight;
    const barWidth = Math.max(2, ((width - labelWidth - 60) * row.value) / max);
    const label = el("text", { x: labelWidth - 6, y: y + 16, "text-anchor": "end" }, truncate(row.label, chars));
    label.appendChild(el("title", {}, row.label));
    svg.appendChild(label);
    svg.appendChild(el("rect", { x: labelWidth, y: y + 3, width: barWidth, height: rowHeight - 8, rx: 3, class: `bar ${variant}` }));
    svg.appendChild(el("text", { x: labelWidth + barWidth + 6, y: y + 16, class: "val" }, fmt(row.value)));
  });
  container.replaceChildren(svg);
}

export function verticalBars(container, rows, { variant = "" } = {}) {
  const width = Math.max(container.clientWidth || 480, 280);
  const height = 220;
  const bottom = 34;
  const top = 18;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const slot = (width - 28) / Math.max(rows.length, 1);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.appendChild(el("title", {}, rows.map((r) => `${r.label}: ${r.value}`).join("; ")));
  svg.appendChild(el("line", { x1: 5, x2: width - 5, y1: height - bottom, y2: height - bottom, stroke: "#c9d2dc" }));
  const every = Math.ceil(rows.length / Math.max(1, Math.floor(width / 56)));
  rows.forEach((row, i) => {
    const barHeight = ((height - bottom - top) * row.value) / max;
    const x = 14 + i * slot + slot * 0.15;
    const w = Math.max(2, slot * 0.7);
    svg.appendChild(el("rect", { x, y: height - bottom - barHeight, width: w, height: barHeight, rx: 2, class: `bar ${variant}` }));
    if (slot >= 22 || row.value === max) {
      svg.appendChild(el("text", { x: x + w / 2, y: height - bottom - barHeight - 4, "text-anchor": "middle", class: "val" }, fmt(row.value)));
    }
    if (i % every === 0) {
      svg.appendChild(el("text", { x: x + w / 2, y: height - bottom + 16, "text-anchor": "middle" }, row.label));
    }
  });
  container.replaceChildren(svg);
}

function draw(container) {
  const source = document.getElementById(container.dataset.source);
  if (!source) return;
  const rows = JSON.parse(source.textContent);
  if (!rows.length) {
    container.textContent = container.dataset.empty || "—";
    return;
  }
  const options = { variant: container.dataset.variant || "" };
  if (container.dataset.chart === "vbar") verticalBars(container, rows, options);
  else horizontalBars(container, rows, options);
}

export function drawAll(root = document) {
  root.querySelectorAll(".chart[data-chart]").forEach(draw);
  document.documentElement.dataset.chartsReady = "1";
}

drawAll();
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => drawAll(), 200);
});
