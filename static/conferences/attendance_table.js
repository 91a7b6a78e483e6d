// Attendance table: every invited site's status, headcount and reason, saved in one submit.
// Keyboard: Enter moves down the column (Shift+Enter up), Ctrl+Enter saves; a headcount typed
// into a site not yet recorded chooses "present"; an absence clears the headcount. Changed rows
// are marked and counted, leaving the page with unsaved rows asks first. Without this script
// the table is a plain form and works the same, minus these conveniences.

const form = document.getElementById("attendance-form");

const fold = (text) =>
  text.replaceAll("đ", "d").replaceAll("Đ", "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

const RECORDED = new Set(["present", "absent", "absent_excused"]);
const ABSENT = new Set(["absent", "absent_excused"]);

if (form) {
  const rows = [...form.querySelectorAll("tbody tr[data-site]")];
  const names = rows.map((row) => fold(row.dataset.name || ""));
  const fields = (row) => [...row.querySelectorAll("[data-col]")];
  const dirtyCount = document.getElementById("dirty-count");
  let submitting = false;

  const isDirty = (row) => fields(row).some((el) => el.value !== (el.dataset.initial ?? ""));
  function refreshDirty() {
    let n = 0;
    for (const row of rows) {
      const dirty = isDirty(row);
      row.classList.toggle("dirty", dirty);
      if (dirty) n += 1;
    }
    dirtyCount.textContent = n ? `${n} ${form.dataset.labelDirty}` : "";
    return n;
  }

  function move(from, step) {
    const row = from.closest("tr");
    const col = from.dataset.col;
    let i = rows.indexOf(row) + step;
    while (i >= 0 && i < rows.length && rows[i].hidden) i += step;
    const target = rows[i]?.querySelector(`[data-col="${col}"]`);
    if (target) {
      target.focus();
      if (target.select) target.select();
    }
  }

  form.addEventListener("keydown", (event) => {
    const el = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (event.key === "Enter" && el.dataset?.col !== undefined) {
      event.preventDefault(); // Enter in a cell moves on; it never submits half a table
      move(el, event.shiftKey ? -1 : 1);
    }
  });

  form.addEventListener("input", (event) => {
    const el = event.target;
    const row = el.closest("tr");
    if (!row) return;
    const status = row.querySelector('[data-col="0"]');
    if (el.dataset.col === "1" && el.value !== "" && Number(el.value) > 0 && status && !RECORDED.has(status.value)) {
      const present = status.querySelector('option[value="present"]');
      if (present && !present.disabled) status.value = "present";
    }
    refreshDirty();
  });

  form.addEventListener("change", (event) => {
    const el = event.target;
    if (el.dataset.col === "0" && ABSENT.has(el.value)) {
      const count = el.closest("tr").querySelector('[data-col="1"]');
      if (count) count.value = "";
    }
    refreshDirty();
  });

  form.addEventListener("submit", () => {
    submitting = true;
  });
  window.addEventListener("beforeunload", (event) => {
    if (!submitting && refreshDirty()) {
      event.preventDefault();
      event.returnValue = form.dataset.labelLeave;
    }
  });

  const filter = document.getElementById("table-filter");
  const onlyOpen = document.getElementById("only-open");
  function applyFilter() {
    const words = fold(filter?.value || "").split(/\s+/).filter(Boolean);
    rows.forEach((row, i) => {
      const status = row.querySelector('[data-col="0"]')?.value;
      const open = !RECORDED.has(status);
      row.hidden = !words.every((w) => names[i].includes(w)) || (onlyOpen?.checked && !open);
    });
  }
  filter?.addEventListener("input", applyFilter);
  onlyOpen?.addEventListener("change", applyFilter);

  document.getElementById("rest-absent")?.addEventListener("click", (event) => {
    if (!window.confirm(event.currentTarget.dataset.confirm)) return;
    for (const row of rows) {
      const status = row.querySelector('[data-col="0"]');
      if (row.hidden || !status || RECORDED.has(status.value)) continue;
      const absent = status.querySelector('option[value="absent"]');
      if (absent && !absent.disabled) {
        status.value = "absent";
        const count = row.querySelector('[data-col="1"]');
        if (count) count.value = "";
      }
    }
    refreshDirty();
  });

  refreshDirty();
  const firstBad = form.querySelector("tr.bad-row [data-col]");
  if (firstBad) {
    firstBad.scrollIntoView({ block: "center" });
    firstBad.focus();
  }
  form.dataset.ready = "1";
}
