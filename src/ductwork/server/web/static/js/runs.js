// A pipeline's runs table: row actions, and picking runs to compare.
import { initActions } from "/static/js/actions.js";

initActions(document);

const runs = document.getElementById("runs");
const compare = document.getElementById("compare-btn");

function picked() {
  return [...runs.querySelectorAll('input[name="run"]:checked')].map((box) => box.value);
}

runs.addEventListener("change", () => {
  compare.disabled = picked().length < 2;
});
compare.addEventListener("click", () => {
  const ids = picked();
  if (ids.length >= 2) window.location.href = `/compare?${ids.map((id) => `ids=${encodeURIComponent(id)}`).join("&")}`;
});
document.addEventListener("ductwork:changed", () => window.htmx.trigger(runs, "refresh"));
runs.setAttribute("hx-trigger", `${runs.getAttribute("hx-trigger")}, refresh`);
window.htmx.process(runs);
