// The run page: the DAG on a canvas (layout from the server), live states, the steps list and the
// info panel. State lives in typed arrays indexed by step; a status update only marks the boxes whose
// status or times changed, and the next animation frame repaints just those boxes.
import { initPanels } from "/static/js/panels.js";
import { initActions, runStatusOf, toast } from "/static/js/actions.js";
import { CODE, COLOR, DETAIL_MIN_SCALE, RUNNING, STATUSES, createPainter } from "/static/js/dag-paint.js";
import { createStepList } from "/static/js/step-list.js";

const FINAL = new Set(["completed", "failed", "aborted", "draft"]);
const PAD = 40;
const MIN_SCALE = 0.002; // small enough to fit a 10,000-wide layer on a screen

const root = document.getElementById("run");
const runId = root.dataset.run;
const canvas = document.getElementById("dag");

const dag = {
  n: 0, // boxes
  keys: [], labels: [], x: new Float64Array(0), y: new Float64Array(0), h: new Float64Array(0), w: 216,
  members: new Map(), // box -> step indexes, for groups
  edges: new Int32Array(0), // [parent, child] pairs, flat
  width: 0, height: 0,
  // steps
  stages: {}, // step -> stage label, for steps that have one
  names: [], stepIndex: new Map(), boxOf: new Int32Array(0), status: new Uint8Array(0),
  started: new Float64Array(0), ended: new Float64Array(0), task: [],
  groupCounts: new Map(), // box -> Int32Array(per status)
  boxStatus: new Uint8Array(0), // for single-step boxes
  clockSkew: 0, // server time - local time, for live elapsed times
};
const view = { scale: 1, tx: 0, ty: 0, dpr: window.devicePixelRatio || 1, cw: 0, ch: 0 };
const dirty = new Set();
let fullDraw = true;
let frameQueued = false;
let selected = -1; // box
let userMoved = false; // once the reader pans or zooms, new layouts keep their view
let runStatus = root.dataset.status;
const painter = createPainter(canvas, dag, view);

// ---------------------------------------------------------------- loading

async function load() {
  let body;
  try {
    const early = window.__prefetch && window.__prefetch[`/runs/${runId}/layout.json`];
    if (!early) throw new Error("not prefetched");
    body = await early;
  } catch {
    body = await (await fetch(`/runs/${runId}/layout.json`)).json();
  }
  setLayout(body);
  resize();
  fit();
  applyStates(body.states);
  steps.refresh();
  groupToggle();
  document.getElementById("dag-empty").hidden = dag.n > 0;
  window.__dag.ready = performance.now();
}

function setLayout(body) {
  dag.n = body.keys.length;
  dag.keys = body.keys;
  dag.labels = body.labels;
  dag.x = Float64Array.from(body.x);
  dag.y = Float64Array.from(body.y);
  dag.h = Float64Array.from(body.h);
  dag.w = body.node_w;
  dag.width = body.width;
  dag.stages = body.stages || {};
  dag.height = body.height;
  dag.edges = Int32Array.from(body.edges.flat());
  const s = body.states;
  dag.names = s.names;
  dag.stepIndex = new Map(s.names.map((name, i) => [name, i]));
  const m = s.names.length;
  dag.boxOf = new Int32Array(m).fill(-1);
  dag.status = new Uint8Array(m);
  dag.started = new Float64Array(m).fill(NaN);
  dag.ended = new Float64Array(m).fill(NaN);
  dag.task = new Array(m).fill(null);
  dag.boxStatus = new Uint8Array(dag.n);
  dag.members = new Map();
  dag.groupCounts = new Map();
  for (let b = 0; b < dag.n; b++) {
    const group = body.members[b];
    if (group) {
      const idx = group.map((name) => dag.stepIndex.get(name));
      idx.forEach((i) => { dag.boxOf[i] = b; });
      dag.members.set(b, idx);
      const counts = new Int32Array(STATUSES.length);
      counts[0] = idx.length;
      dag.groupCounts.set(b, counts);
    } else {
      const i = dag.stepIndex.get(dag.keys[b]);
      if (i !== undefined) dag.boxOf[i] = b;
    }
  }
  fullDraw = true;
}

// Apply a column payload {names, status, started, ended, task, now}; returns how many steps changed.
function applyStates(s) {
  if (!s) return 0;
  if (s.now) dag.clockSkew = s.now - Date.now() / 1000;
  const sameOrder = s.names.length === dag.names.length && s.names[0] === dag.names[0];
  let changed = 0;
  let unknown = 0;
  let selectedMoved = "";
  for (let k = 0; k < s.names.length; k++) {
    const i = sameOrder && dag.names[k] === s.names[k] ? k : dag.stepIndex.get(s.names[k]);
    if (i === undefined) {
      unknown++;
      continue;
    }
    const code = CODE.get(s.status[k]) ?? 0;
    const started = s.started[k] ?? NaN;
    const ended = s.ended[k] ?? NaN;
    const before = dag.status[i];
    if (before === code && sameTime(dag.started[i], started) && sameTime(dag.ended[i], ended)) continue;
    changed++;
    if (i === selectedStep) selectedMoved = dag.task[i] !== (s.task[k] ?? null) ? "task" : "status";
    dag.status[i] = code;
    dag.started[i] = started;
    dag.ended[i] = ended;
    dag.task[i] = s.task[k] ?? null;
    const b = dag.boxOf[i];
    if (b < 0) continue;
    const counts = dag.groupCounts.get(b);
    if (counts) {
      counts[before]--;
      counts[code]++;
    } else {
      dag.boxStatus[b] = code;
    }
    dirty.add(b);
  }
  if (changed) {
    legend();
    steps.refreshVisible();
    schedule();
  }
  if (unknown) relayoutSoon();
  if (selectedMoved) followSelectedStep(selectedMoved);
  return changed;
}

// The open STEP INFO follows its step: a new task (it started, or a retry) reloads the panel;
// a status change only updates the badge, so open tabs and the console's scroll stay put.
function followSelectedStep(what) {
  if (what === "task") {
    selectStep(selectedStep, false);
    return;
  }
  const badge = document.querySelector("#info .info-head .status");
  if (!badge) return;
  const status = STATUSES[dag.status[selectedStep]];
  badge.className = `status status-${status}`;
  badge.textContent = status;
}

// Steps the drawing does not know yet (a decorator pipeline adds them as it calls components):
// fetch the new layout once the burst settles, and keep the reader's pan and zoom.
let relayoutTimer = 0;
function relayoutSoon() {
  clearTimeout(relayoutTimer);
  relayoutTimer = setTimeout(() => relayout().catch(relayoutSoon), 300); // failed: again after a pause
}

let grouped = true; // fan-outs drawn as one box; the toolbar toggles it
const expanded = new Set(); // groups opened one by one (their keys), drawn step by step
async function relayout() {
  const query = new URLSearchParams({ grouped: String(grouped) });
  for (const key of expanded) query.append("expand", key);
  const body = await (await fetch(`/runs/${runId}/layout.json?${query}`)).json();
  const keep = selected >= 0 ? dag.keys[selected] : null;
  setLayout(body);
  selected = keep === null ? -1 : dag.keys.indexOf(keep);
  if (!userMoved) fit();
  applyStates(body.states);
  legend();
  steps.refresh();
  groupToggle();
  document.getElementById("dag-empty").hidden = dag.n > 0;
}

// "Show every step" appears when the drawing groups a fan-out; "Group fan-outs" while it is
// ungrouped or some group was opened.
function groupToggle() {
  const button = document.getElementById("group-toggle");
  const open = !grouped || expanded.size > 0;
  button.hidden = !open && dag.members.size === 0;
  button.textContent = open ? "Group fan-outs" : "Show every step";
}
document.getElementById("group-toggle").addEventListener("click", () => {
  const open = !grouped || expanded.size > 0;
  grouped = open;
  expanded.clear();
  userMoved = false;
  relayout().catch(() => toast("The graph could not be loaded; try again."));
});

// One group opened from its info panel: its steps get boxes of their own, the rest stays grouped.
function expandGroup(key) {
  expanded.add(key);
  showRunInfo();
  relayout().catch(() => toast("The graph could not be loaded; try again."));
}

const sameTime = (a, b) => a === b || (Number.isNaN(a) && Number.isNaN(b));

// ---------------------------------------------------------------- drawing

function schedule() {
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(() => {
    frameQueued = false;
    draw();
  });
}

function resize() {
  const rect = canvas.getBoundingClientRect();
  view.dpr = window.devicePixelRatio || 1;
  view.cw = rect.width;
  view.ch = rect.height;
  canvas.width = Math.round(rect.width * view.dpr);
  canvas.height = Math.round(rect.height * view.dpr);
  fullDraw = true;
  schedule();
}

function fit() {
  if (!dag.n) return;
  const sx = (view.cw - 2 * PAD) / Math.max(dag.width, 1);
  const sy = (view.ch - 2 * PAD) / Math.max(dag.height, 1);
  view.scale = Math.min(1, Math.max(MIN_SCALE, Math.min(sx, sy)));
  view.tx = (view.cw - dag.width * view.scale) / 2;
  view.ty = (view.ch - dag.height * view.scale) / 2;
  fullDraw = true;
  schedule();
}

function zoomAt(factor, px, py) {
  userMoved = true;
  const scale = Math.min(3, Math.max(MIN_SCALE, view.scale * factor));
  const k = scale / view.scale;
  view.tx = px - (px - view.tx) * k;
  view.ty = py - (py - view.ty) * k;
  view.scale = scale;
  fullDraw = true;
  schedule();
}

function draw() {
  const t0 = performance.now();
  painter.paint({ full: fullDraw, dirty, selected });
  fullDraw = false;
  dirty.clear();
  const t1 = performance.now();
  window.__dag.lastDrawMs = t1 - t0;
  window.__dag.draws++;
  if (!window.__dag.firstDraw && dag.n) window.__dag.firstDraw = t1;
}

// Running steps' clocks tick once a second; only their boxes are repainted.
setInterval(() => {
  if (view.scale < DETAIL_MIN_SCALE) return;
  for (let i = 0; i < dag.status.length; i++) if (dag.status[i] === RUNNING && dag.boxOf[i] >= 0) dirty.add(dag.boxOf[i]);
  if (dirty.size) schedule();
  steps.refreshVisible();
}, 1000);

function legend() {
  const totals = new Int32Array(STATUSES.length);
  for (let i = 0; i < dag.status.length; i++) totals[dag.status[i]]++;
  document.querySelectorAll("#legend .legend-item").forEach((item) => {
    const n = totals[CODE.get(item.dataset.status)];
    item.querySelector("b").textContent = n;
    item.classList.toggle("zero", n === 0);
  });
}

// ---------------------------------------------------------------- steps list

const steps = createStepList(dag, {
  onPick: (i) => selectStep(i, true),
  isSelected: (i) => selectedStep === i,
});

// ---------------------------------------------------------------- selection and info panel

let selectedStep = -1;
const info = document.getElementById("info");

function selectBox(b) {
  selected = b;
  fullDraw = true;
  schedule();
}

function selectStep(i, reveal) {
  selectedStep = i;
  const b = dag.boxOf[i];
  selectBox(b);
  if (reveal && b >= 0) centreOn(b);
  steps.render();
  showInfo(`/runs/${runId}/steps/${encodeURIComponent(dag.names[i])}`);
}

// The panel shows what was clicked last: an answer still on its way for an earlier click (or the
// first RUN INFO) must not land over it. Such answers are dropped when they arrive rather than
// aborted: htmx logs every aborted request as a console error.
let wantedInfo = ""; // the URL whose answer may fill the panel ("" at first: the page's own load)
function showInfo(url) {
  wantedInfo = url;
  window.htmx.ajax("GET", url, { target: "#info", swap: "innerHTML" }).catch(() => {});
}

function cancelInfoRequests() {
  wantedInfo = "-"; // the panel was filled here (a group): no answer may replace it
}

document.body.addEventListener("htmx:beforeSwap", (ev) => {
  if (ev.detail.target !== info || !wantedInfo) return;
  const path = (ev.detail.pathInfo && ev.detail.pathInfo.requestPath) || (ev.detail.requestConfig && ev.detail.requestConfig.path);
  if (path && path !== wantedInfo) ev.detail.shouldSwap = false;
});

function centreOn(b) {
  const cx = (dag.x[b] + dag.w / 2) * view.scale + view.tx;
  const cy = (dag.y[b] + dag.h[b] / 2) * view.scale + view.ty;
  if (cx > 0 && cx < view.cw && cy > 0 && cy < view.ch) return;
  view.tx += view.cw / 2 - cx;
  view.ty += view.ch / 2 - cy;
  fullDraw = true;
}

function showRunInfo() {
  selected = -1;
  selectedStep = -1;
  fullDraw = true;
  schedule();
  steps.render();
  showInfo(`/runs/${runId}/info`);
}

function showGroup(b) {
  cancelInfoRequests();
  root.classList.remove("wide-info");
  selectBox(b);
  selectedStep = -1;
  const idx = dag.members.get(b);
  const counts = dag.groupCounts.get(b);
  // Bars get their width and colour through the CSSOM: the CSP forbids style attributes in markup.
  const bars = STATUSES.map((s, k) => (counts[k] ? `<span data-k="${k}" title="${s}: ${counts[k]}"></span>` : "")).join("");
  const rows = STATUSES.map((s, k) => (counts[k] ? `<tr><th><i class="dot dot-${s}"></i>${s}</th><td class="num">${counts[k]}</td></tr>` : "")).join("");
  info.innerHTML = `<div class="info-head"><div class="eyebrow"><a href="#" data-back>Run info</a> / Group</div>
    <h2></h2><div class="meta">${idx.length} steps of one fan-out: the same parents, and the same function or children</div></div>
    <div class="group-bars">${bars}</div><table class="kv">${rows}</table>
    <p><button type="button" class="btn btn-sm" data-expand>Show these ${idx.length} steps</button></p>
    <h3>Steps</h3><p class="muted">Pick one in the list on the left; it is filtered to this group.</p>`;
  for (const bar of info.querySelectorAll(".group-bars [data-k]")) {
    const k = Number(bar.dataset.k);
    bar.style.width = `${(100 * counts[k]) / idx.length}%`;
    bar.style.background = COLOR[k];
  }
  info.querySelector("h2").textContent = dag.labels[b];
  info.querySelector("[data-expand]").dataset.expand = dag.keys[b];
  const stem = dag.labels[b].replace(/ x\d+$/, "");
  const search = document.getElementById("step-search");
  search.value = stem === "steps" ? "" : stem;
  steps.refresh();
}

info.addEventListener("click", (ev) => {
  if (ev.target.closest("[data-back]")) {
    ev.preventDefault();
    showRunInfo();
    return;
  }
  const open = ev.target.closest("button[data-expand]");
  if (open) {
    expandGroup(open.dataset.expand);
    return;
  }
  // An input's `${step.output}` links to the step that produced it: select it in the graph.
  const ref = ev.target.closest("a[data-step]");
  const i = ref ? dag.stepIndex.get(ref.dataset.step) : undefined;
  if (i !== undefined) {
    ev.preventDefault();
    selectStep(i, true);
  }
});
document.body.addEventListener("htmx:afterSwap", (ev) => {
  if (ev.target === info) root.classList.remove("wide-info");
  initPanels(ev.target);
});
// A step's scalars sit beside the run's: the panel widens while that tab is open. Capture, so
// the pane has its width before the tab's own handler builds the charts.
info.addEventListener(
  "click",
  (ev) => {
    const tab = ev.target.closest("button.tab[data-tab]");
    if (tab) root.classList.toggle("wide-info", tab.dataset.tab === "charts");
  },
  true,
);
// The run summary refreshes itself only while the run is running. The check is here, not in an
// hx-trigger filter: filters need eval, which the page's CSP forbids.
document.body.addEventListener("htmx:beforeRequest", (ev) => {
  if (ev.detail.elt.id === "run-summary" && root.dataset.status !== "running") ev.preventDefault();
});

function boxAt(px, py) {
  const wx = (px - view.tx) / view.scale;
  const wy = (py - view.ty) / view.scale;
  for (let b = 0; b < dag.n; b++) {
    if (wx >= dag.x[b] && wx <= dag.x[b] + dag.w && wy >= dag.y[b] && wy <= dag.y[b] + dag.h[b]) return b;
  }
  return -1;
}

// ---------------------------------------------------------------- pan, zoom, click

let drag = null;
canvas.addEventListener("pointerdown", (ev) => {
  drag = { x: ev.clientX, y: ev.clientY, tx: view.tx, ty: view.ty, moved: false };
  canvas.setPointerCapture(ev.pointerId);
});
canvas.addEventListener("pointermove", (ev) => {
  if (!drag) return;
  const dx = ev.clientX - drag.x;
  const dy = ev.clientY - drag.y;
  if (!drag.moved && Math.hypot(dx, dy) < 4) return;
  drag.moved = true;
  userMoved = true;
  canvas.classList.add("dragging");
  view.tx = drag.tx + dx;
  view.ty = drag.ty + dy;
  fullDraw = true;
  schedule();
});
canvas.addEventListener("pointerup", (ev) => {
  canvas.classList.remove("dragging");
  const wasClick = drag && !drag.moved;
  drag = null;
  if (!wasClick) return;
  const rect = canvas.getBoundingClientRect();
  const b = boxAt(ev.clientX - rect.left, ev.clientY - rect.top);
  if (b < 0) showRunInfo();
  else if (dag.members.has(b)) showGroup(b);
  else selectStep(dag.stepIndex.get(dag.keys[b]), false);
});
canvas.addEventListener(
  "wheel",
  (ev) => {
    ev.preventDefault();
    const rect = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - rect.left, ev.clientY - rect.top);
  },
  { passive: false },
);
document.getElementById("zoom-in").addEventListener("click", () => zoomAt(1.25, view.cw / 2, view.ch / 2));
document.getElementById("zoom-out").addEventListener("click", () => zoomAt(0.8, view.cw / 2, view.ch / 2));
document.getElementById("zoom-fit").addEventListener("click", () => {
  userMoved = false;
  fit();
});
new ResizeObserver(resize).observe(canvas);

// ---------------------------------------------------------------- live updates

let fetching = false;
let again = false;
async function refreshStates() {
  if (fetching) {
    again = true;
    return;
  }
  fetching = true;
  try {
    const res = await fetch(`/runs/${runId}/states.json`);
    if (res.ok) {
      const body = await res.json();
      applyStates(body);
      setRunStatus(body.run_status);
    }
  } catch {
    // offline for a moment, or the page is being left: the next event or poll catches up
  } finally {
    fetching = false;
    if (again) {
      again = false;
      refreshStates();
    }
  }
}

function setRunStatus(status) {
  if (!status || status === runStatus) return;
  runStatus = status;
  root.dataset.status = status;
  const badge = document.getElementById("run-status");
  badge.className = `status status-${status}`;
  badge.textContent = status;
  document.querySelector('.run-head [data-action="abort"]').hidden = !["running", "pending"].includes(status);
  document.querySelector('.run-head [data-action="continue"]').hidden = !["aborted", "failed"].includes(status);
  if (selected < 0) showRunInfo();
}

// Server-sent events carry each changed step (`node`) and task (`task`); steps are batched per
// animation frame, so a burst of 10,000 changes is one pass and one paint. A slow poll of the
// states feed stays on as a safety net for proxies that buffer event streams.
const pendingNodes = new Map();
let nodeFlush = false;
function onNode(ev) {
  const node = JSON.parse(ev.data);
  pendingNodes.set(node.name, node);
  if (nodeFlush) return;
  nodeFlush = true;
  requestAnimationFrame(() => {
    nodeFlush = false;
    const batch = [...pendingNodes.values()];
    pendingNodes.clear();
    applyStates({
      names: batch.map((n) => n.name),
      status: batch.map((n) => n.status),
      started: batch.map((n) => n.started),
      ended: batch.map((n) => n.ended),
      task: batch.map((n) => n.task_id),
    });
  });
}

function onTask(ev) {
  const task = JSON.parse(ev.data);
  if (task.id === runId) setRunStatus(runStatusOf(task.status));
}

function listen() {
  if (!window.EventSource) return;
  const source = new EventSource(`/api/events?run=${encodeURIComponent(runId)}`);
  source.addEventListener("node", onNode);
  source.addEventListener("task", onTask);
  window.__dag.source = source;
}
setInterval(() => {
  const live = !FINAL.has(runStatus) || dag.status.some((c) => c === RUNNING);
  const streaming = window.__dag.source && window.__dag.source.readyState === 1;
  if (live && !streaming) refreshStates();
}, 2000);
setInterval(() => {
  if (!FINAL.has(runStatus)) refreshStates();
}, 15000);

window.__dag = { applyStates, draws: 0, lastDrawMs: 0, ready: 0, firstDraw: 0, dag, view, refreshStates, source: null };
// Abort and continue show in the live states; a tag or archiving changes the header: reload it.
document.addEventListener("ductwork:changed", (ev) => {
  if (["tag", "archive", "restore"].includes(ev.detail.action)) window.location.reload();
  else refreshStates();
});
initActions(document);
load().then(listen);
