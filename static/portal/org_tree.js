// Expand or collapse every branch of the organisation tree.
const tree = document.getElementById("org-tree");
for (const button of document.querySelectorAll("[data-tree]")) {
  button.addEventListener("click", () => {
    const open = button.dataset.tree === "open";
    for (const details of tree.querySelectorAll("details")) details.open = open;
  });
}
