// Suggestions as you type, from the server, for two fields: the conference form's topics
// (data-mode="tokens": comma-separated, the word after the last comma is completed) and the
// history filter's unit (data-mode="single"). The server folds what was typed like the
// database does (đ → d, no diacritics, any case) and answers
// {"results": [{"label", "value"}], "exact": {"label", "value"} | null}. Picking a suggestion
// puts its value in the field (a topic's own spelling, a unit's "Name (code)"), so "chuyen doi
// so" becomes the existing "Chuyển đổi số" instead of a second topic. Without this script both
// are plain text inputs the server understands.

function setup(box) {
  const input = box.querySelector("input");
  const list = box.querySelector(".suggestions");
  const offer = box.querySelector(".suggest-offer");
  const tokens = box.dataset.mode === "tokens";
  list.id = `${input.id || input.name}-suggestions`;
  list.setAttribute("aria-label", box.dataset.labelList);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  let timer = null;
  let pending = null;
  let active = -1;
  let items = [];

  const typed = () => (tokens ? input.value.split(",").at(-1) : input.value).trim();

  function choose(value) {
    if (tokens) {
      const parts = input.value.split(",");
      parts[parts.length - 1] = value;
      input.value = parts.map((p) => p.trim()).filter(Boolean).join(", ") + ", ";
    } else {
      input.value = value;
    }
    close();
    if (offer) offer.textContent = "";
    input.focus();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    items = [];
    active = -1;
  }

  function highlight(index) {
    items.forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (index >= 0) input.setAttribute("aria-activedescendant", items[index].id);
  }

  function render(data, text) {
    close();
    items = data.results.map((row, i) => {
      const li = document.createElement("li");
      li.id = `${list.id}-${i}`;
      li.setAttribute("role", "option");
      li.dataset.value = row.value;
      li.textContent = row.label;
      li.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the focus in the input
        choose(row.value);
      });
      return li;
    });
    if (items.length) {
      list.replaceChildren(...items);
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }
    if (offer) {
      offer.replaceChildren();
      if (data.exact && data.exact.value !== text) {
        const use = document.createElement("button");
        use.type = "button";
        use.className = "linkbtn";
        use.textContent = `“${data.exact.label}”`;
        use.addEventListener("click", () => choose(data.exact.value));
        offer.append(`${box.dataset.labelExisting} `, use);
      } else if (!data.exact && text && box.dataset.labelNew) {
        offer.textContent = `${box.dataset.labelNew} “${text}”`;
      }
    }
    box.dataset.answered = text;
  }

  async function ask() {
    const text = typed();
    if (!text) {
      close();
      if (offer) offer.textContent = "";
      return;
    }
    pending?.abort();
    pending = new AbortController();
    try {
      const response = await fetch(`${box.dataset.suggestUrl}?q=${encodeURIComponent(text)}`, {
        signal: pending.signal,
        headers: { Accept: "application/json" },
      });
      if (response.ok && text === typed()) render(await response.json(), text);
    } catch (error) {
      if (error.name !== "AbortError") close();
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden || !items.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + items.length) % items.length);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      choose(items[active].dataset.value);
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

document.querySelectorAll(".suggest-input").forEach(setup);
document.documentElement.dataset.suggestReady = "1";
