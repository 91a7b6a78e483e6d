// Operator page: while a conference is running and no roll call is open, look again every
// 30 seconds so the roll-call form appears without a manual reload. Never reloads while the
// operator is typing. (The live issue's WebSocket can replace this polling later.)
const root = document.querySelector("[data-wait-roll-call]");
if (root) {
  const seconds = Number(root.dataset.waitRollCall) || 30;
  setInterval(() => {
    const active = document.activeElement;
    const typing = active && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
    if (!typing && document.visibilityState === "visible") window.location.reload();
  }, seconds * 1000);
}
