// Site picker of the conference form: live count of the selected sites (asked from the server,
// which resolves the selection on the conference date), sites already busy in an overlapping
// conference, rows covered by a kind/subtree/group choice highlighted, and a diacritic-free filter.
// The checkboxes are plain form fields, so the form also works without this script.

const picker = document.getElementById("site-picker");
const form = document.getElementById("conference-form");

const fold = (text) =>
  text.replaceAll("đ", "d").replaceAll("Đ", "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

function selection() {
  const data = new FormData(form);
  const params = new URLSearchParams();
  for (const name of ["sel_kind", "sel_subtree", "sel_group", "sel_site"]) {
    for (const value of data.getAll(name)) params.append(name, value);
  }
  return params;
}

function markCovered(rows) {
  const data = new FormData(form);
  const kinds = new Set(data.getAll("sel_kind"));
  const subtreePaths = [];
  const groups = [];
  const pathOf = new Map(rows.map((row) => [row.dataset.path.split("/").filter(Boolean).at(-1), row.dataset.path]));
  for (const code of data.getAll("sel_subtree")) if (pathOf.has(code)) subtreePaths.push(pathOf.get(code));
  for (const raw of data.getAll("sel_group")) {
    const [kind, code] = raw.split("@");
    if (pathOf.has(code)) groups.push([kind, pathOf.get(code)]);
  }
  for (const row of rows) {
    const { path, kind } = row.dataset;
    const covered =
      kinds.has(kind) ||
      subtreePaths.some((p) => path.startsWith(p)) ||
      groups.some(([k, p]) => k === kind && path.startsWith(p) && path !== p);
    row.classList.toggle("covered", covered);
  }
}

function render(result) {
  const count = document.getElementById("picker-count");
  const byKind = document.getElementById("picker-by-kind");
  const overlaps = document.getElementById("picker-overlaps");
  const day = document.getElementById("picker-day");
  count.textContent = `${result.total} ${picker.dataset.labelSites || "điểm cầu"}`;
  byKind.textContent = result.by_kind.map((k) => `${k.label}: ${k.count}`).join(" · ");
  if (day && result.day) day.textContent = result.day.split("-").reverse().join("/");
  // One line per busy conference: how many of the chosen sites it already has, and which.
  const groups = new Map();
  for (const o of result.overlaps) {
    const key = o.conference_code || o.conference;
    if (!groups.has(key)) groups.set(key, { ...o, sites: [] });
    groups.get(key).sites.push(o.site);
  }
  const items = [...groups.values()].map((g) => {
    const li = document.createElement("li");
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `${g.conference} (${g.start}–${g.end}): ${g.sites.length} ${picker.dataset.labelBusy || "điểm cầu trùng"}`;
    const names = document.createElement("span");
    names.className = "small";
    names.textContent = g.sites.join(", ");
    details.append(summary, names);
    li.append(details);
    return li;
  });
  if (items.length) {
    const head = document.createElement("li");
    head.className = "overlap-head";
    head.textContent = picker.dataset.labelOverlaps || "Đã được mời dự hội nghị khác trùng giờ:";
    items.unshift(head);
  }
  overlaps.replaceChildren(...items);
}

let timer = null;
let latest = 0;
async function refresh() {
  const params = selection();
  const start = form.elements.planned_start?.value;
  const end = form.elements.planned_end?.value;
  if (start) params.set("start", start);
  if (end) params.set("end", end);
  if (picker.dataset.conference) params.set("conference", picker.dataset.conference);
  const ticket = ++latest;
  try {
    const response = await fetch(`${picker.dataset.countsUrl}?${params}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const result = await response.json();
    if (ticket !== latest) return;
    if (!response.ok) {
      document.getElementById("picker-count").textContent = result.message || response.statusText;
      return;
    }
    render(result);
  } catch (error) {
    if (ticket === latest) document.getElementById("picker-count").textContent = String(error);
  } finally {
    if (ticket === latest) picker.dataset.ready = "1";
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 200);
}

if (picker && form) {
  const rows = [...picker.querySelectorAll(".picker-row")];
  form.addEventListener("change", (event) => {
    const name = event.target.name || "";
    if (name.startsWith("sel_")) markCovered(rows);
    if (name.startsWith("sel_") || name === "planned_start" || name === "planned_end") schedule();
  });
  const filter = document.getElementById("picker-filter");
  const names = rows.map((row) => fold(row.dataset.name));
  filter?.addEventListener("input", () => {
    const words = fold(filter.value).split(/\s+/).filter(Boolean);
    if (!words.length) {
      for (const row of rows) row.hidden = false;
      return;
    }
    // A matching unit is shown with its ancestors (for context) and everything below it.
    const matched = rows.filter((row, i) => words.every((w) => names[i].includes(w))).map((row) => row.dataset.path);
    for (const row of rows) {
      const path = row.dataset.path;
      row.hidden = !matched.some((m) => path.startsWith(m) || m.startsWith(path));
    }
  });
  markCovered(rows);
  refresh();
}
