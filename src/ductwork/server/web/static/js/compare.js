// Comparing runs: overlaid scalars (data rendered into the page) and the parameter diff toggle.
import { drawCharts } from "/static/js/panels.js";

const data = JSON.parse(document.getElementById("compare-data").textContent);
drawCharts(document.getElementById("compare-charts"), data);
const table = document.getElementById("param-diff");
document.getElementById("only-diff").addEventListener("change", (ev) => {
  table.classList.toggle("show-all", !ev.target.checked);
});
