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

// The table polls (hx-trigger "every 5s") but holds still while the reader is picking runs or
// has a row's menu open. This check is here, not in an hx-trigger filter: filters need eval,
// which the page's CSP forbids. After an action it refreshes at once, busy or not.
let forced = false;
const busy = () => Boolean(runs.querySelector("input[type=checkbox]:checked") || document.querySelector(".menu[open]"));
runs.addEventListener("htmx:beforeRequest", (ev) => {
  if (ev.detail.elt !== runs) return;
  if (forced) forced = false;
  else if (busy()) ev.preventDefault();
});
document.addEventListener("ductwork:changed", () => {
  forced = true;
  window.htmx.trigger(runs, "refresh");
});

// A sorted column's link asks for the table; the filter form then remembers that order so its
// next change (and the poll, which includes it) keeps it.
runs.addEventListener("htmx:afterRequest", (ev) => {
  const link = ev.detail.elt;
  if (!ev.detail.successful || !link.dataset || link.dataset.sort === undefined) return;
  document.querySelector("#runs-filter [name=sort]").value = link.dataset.sort;
  document.querySelector("#runs-filter [name=desc]").value = link.dataset.desc;
});
