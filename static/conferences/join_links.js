// Join-link screen: copy a link, confirm before revoking, filter the sites by name.
// Everything works without this script except copying with one click.

const table = document.getElementById("join-links");

const fold = (text) =>
  text.replaceAll("đ", "d").replaceAll("Đ", "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

async function copy(input, button) {
  const original = button.textContent;
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch {
    // No clipboard API on plain http:// outside localhost: select the text and use the old command.
    input.select();
    ok = document.execCommand?.("copy") ?? false;
  }
  input.select();
  button.textContent = ok ? table.dataset.labelCopied : table.dataset.labelCopyFailed;
  button.dataset.copied = ok ? "1" : "0";
  setTimeout(() => {
    button.textContent = original;
  }, 2500);
}

if (table) {
  table.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    if (input) copy(input, button);
  });
  table.addEventListener("submit", (event) => {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  for (const input of table.querySelectorAll(".link-url")) {
    input.addEventListener("focus", () => input.select());
  }
  const filter = document.getElementById("links-filter");
  const rows = [...table.querySelectorAll("tbody tr[data-name]")];
  const names = rows.map((row) => fold(row.dataset.name));
  filter?.addEventListener("input", () => {
    const words = fold(filter.value).split(/\s+/).filter(Boolean);
    rows.forEach((row, i) => {
      row.hidden = !words.every((w) => names[i].includes(w));
    });
  });
  table.dataset.ready = "1";
}
