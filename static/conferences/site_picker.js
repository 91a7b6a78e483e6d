// Site picker of the conference form: live count of the selected sites (asked from the server,
// which resolves the selection on the conference date, the chair site included as it will be
// saved), sites already busy in an overlapping conference, rows covered by a kind/subtree/group
// choice highlighted, rows the level and host do not allow greyed out (the server's scope), the
// chair site shown as always invited, and a diacritic-free filter. Choosing a host offers only
// the levels it may hold and moves the chair site along. The checkboxes are plain form fields,
// so the form also works without this script; the server checks everything again.

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

const hostOptions = JSON.parse(picker?.dataset.hostOptions || "{}");

function markScope(rows, scope) {
  const paths = scope?.paths ?? null;
  for (const row of rows) {
    const inside = paths === null || paths.some((p) => row.dataset.path.startsWith(p));
    row.classList.toggle("outside", !inside);
    for (const input of row.querySelectorAll("input[type=checkbox]")) {
      if (input.dataset.chair === "1") continue;
      // A checked box stays usable so the clerk sees it flagged and can untick it: disabling it
      // would drop it from the form without a word.
      input.disabled = !inside && !input.checked;
    }
  }
}

let chairBox = null;
function markChair(code) {
  if (chairBox && chairBox.value !== code) {
    chairBox.checked = chairBox.dataset.wasChecked === "1";
    chairBox.disabled = false;
    chairBox.dataset.chair = "0";
    chairBox.closest(".picker-row")?.classList.remove("chair");
    chairBox.closest("label")?.querySelector(".chair-badge")?.remove();
    chairBox = null;
  }
  if (!code || chairBox) return;
  const box = picker.querySelector(`input[name="sel_site"][value="${CSS.escape(code)}"]`);
  if (!box) return;
  box.dataset.wasChecked = box.checked ? "1" : "0";
  box.checked = true;
  box.disabled = true;
  box.dataset.chair = "1";
  box.closest(".picker-row")?.classList.add("chair");
  const badge = document.createElement("span");
  badge.className = "badge chair-badge";
  badge.textContent = picker.dataset.labelChair || "chủ trì";
  box.closest("label")?.append(" ", badge);
  chairBox = box;
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
  const rows = [...picker.querySelectorAll(".picker-row")];
  markChair(result.chair_site || "");
  markScope(rows, result.scope);
  const scopeLabel = document.getElementById("picker-scope");
  if (scopeLabel && result.scope) scopeLabel.textContent = result.scope.label;
  const scopeError = document.getElementById("picker-scope-error");
  scopeError.textContent = result.scope_error || "";
  scopeError.hidden = !result.scope_error;
  const outside = document.getElementById("picker-outside");
  outside.hidden = !result.outside.length;
  outside.textContent = result.outside.length
    ? `${picker.dataset.labelOutside} ${result.outside.length}: ${result.outside.join(", ")}`
    : "";
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
  for (const name of ["level", "host_unit", "chair_site"]) {
    const value = form.elements[name]?.value;
    if (value) params.set(name, value);
  }
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
    if (name === "host_unit") followHost();
    if (name.startsWith("sel_") || ["planned_start", "planned_end", "level", "host_unit", "chair_site"].includes(name)) schedule();
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
  limitLevels();
  refresh();
}

// Offer only the levels the chosen host may hold; keep the clerk's level when it is allowed.
function limitLevels() {
  const option = hostOptions[form.elements.host_unit?.value];
  const level = form.elements.level;
  if (!option || !level) return;
  for (const opt of level.options) opt.disabled = !option.levels.includes(opt.value);
  if (!option.levels.includes(level.value)) level.value = option.level;
}

// A new host brings its usual level and, unless the clerk chose another one, its own site as chair.
let previousHost = form?.elements.host_unit?.value;
function followHost() {
  const host = form.elements.host_unit.value;
  const before = hostOptions[previousHost];
  const option = hostOptions[host];
  previousHost = host;
  if (!option) return;
  const chair = form.elements.chair_site;
  if (chair && (!chair.value || (before && chair.value === before.site)) && option.site) chair.value = option.site;
  const level = form.elements.level;
  if (level && before && level.value === before.level) level.value = option.level;
  limitLevels();
}
