// The steps list beside the DAG: search, status filter, and only a screenful of rows in the DOM,
// so a 10,000-step run scrolls as lightly as a 10-step one.
import { CODE, STATUSES, elapsedText } from "/static/js/dag-paint.js";

// `onPick(step)` is called when a row is clicked; `isSelected(step)` marks the open one.
export function createStepList(dag, { onPick, isSelected }) {
  const list = document.getElementById("steps-list");
  const spacer = list.querySelector(".vlist-spacer");
  const search = document.getElementById("step-search");
  const filter = document.getElementById("step-status");
  const ROW = 32;
  let rows = []; // step indexes shown
  const pool = [];
  let queued = false;

  function refresh() {
    const needle = search.value.trim().toLowerCase();
    const want = filter.value ? CODE.get(filter.value) : -1;
    rows = [];
    for (let i = 0; i < dag.names.length; i++) {
      if (want >= 0 && dag.status[i] !== want) continue;
      if (needle && !dag.names[i].toLowerCase().includes(needle)) continue;
      rows.push(i);
    }
    spacer.style.height = `${rows.length * ROW}px`;
    render();
  }

  function refreshVisible() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      if (filter.value) refresh();
      else render();
    });
  }

  function render() {
    const first = Math.max(0, Math.floor(list.scrollTop / ROW) - 4);
    const count = Math.ceil(list.clientHeight / ROW) + 8;
    while (pool.length < count) {
      const row = document.createElement("div");
      row.className = "vrow";
      row.setAttribute("role", "option");
      row.innerHTML = '<i class="dot"></i><span class="name"></span><span class="time"></span>';
      row.addEventListener("click", () => onPick(Number(row.dataset.step)));
      list.append(row);
      pool.push(row);
    }
    pool.forEach((row, k) => {
      const r = first + k;
      if (r >= rows.length) {
        row.hidden = true;
        return;
      }
      const i = rows[r];
      row.hidden = false;
      row.dataset.step = i;
      row.style.top = `${r * ROW}px`;
      row.children[0].className = `dot dot-${STATUSES[dag.status[i]]}`;
      row.children[1].textContent = dag.names[i];
      row.children[2].textContent = elapsedText(dag, i);
      row.classList.toggle("selected", isSelected(i));
      row.title = `${dag.names[i]} · ${STATUSES[dag.status[i]]}`;
    });
  }

  list.addEventListener("scroll", render);
  search.addEventListener("input", refresh);
  filter.addEventListener("change", refresh);
  return { refresh, refreshVisible, render };
}
