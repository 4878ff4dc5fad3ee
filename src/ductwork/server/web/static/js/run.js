// The run page: the DAG on a canvas (layout from the server), live states, the steps list and the
// info panel. State lives in typed arrays indexed by step; a status update only marks the boxes whose
// status or times changed, and the next animation frame repaints just those boxes.
import { initPanels } from "/static/js/panels.js";
import { initActions, runStatusOf } from "/static/js/actions.js";

const STATUSES = ["pending", "queued", "running", "completed", "failed", "cached", "skipped", "aborted"];
const FINAL = new Set(["completed", "failed", "aborted", "draft"]);
const CODE = new Map(STATUSES.map((s, i) => [s, i]));
const RUNNING = CODE.get("running");
const css = getComputedStyle(document.documentElement);
const COLOR = STATUSES.map((s) => css.getPropertyValue(`--${s}`).trim() || "#98a2b3");
const FONT = css.getPropertyValue("--font").trim() || "sans-serif";
const PAD = 40;
const DETAIL_MIN_SCALE = 0.45; // below this, boxes are drawn as coloured blocks without text
const MIN_SCALE = 0.002; // small enough to fit a 10,000-wide layer on a screen

const root = document.getElementById("run");
const runId = root.dataset.run;
const canvas = document.getElementById("dag");
const ctx = canvas.getContext("2d");

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

// ---------------------------------------------------------------- loading

async function load() {
  let body;
  try {
    body = await window.__layoutRequest;
  } catch {
    body = await (await fetch(`/runs/${runId}/layout.json`)).json();
  }
  setLayout(body);
  resize();
  fit();
  applyStates(body.states);
  steps.refresh();
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
  relayoutTimer = setTimeout(async () => {
    try {
      const body = await (await fetch(`/runs/${runId}/layout.json`)).json();
      const keep = selected >= 0 ? dag.keys[selected] : null;
      setLayout(body);
      selected = keep === null ? -1 : dag.keys.indexOf(keep);
      if (!userMoved) fit();
      applyStates(body.states);
      legend();
      steps.refresh();
      document.getElementById("dag-empty").hidden = dag.n > 0;
    } catch {
      relayoutSoon(); // try again after the next pause
    }
  }, 300);
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

function visibleWorld() {
  return {
    x0: -view.tx / view.scale,
    y0: -view.ty / view.scale,
    x1: (view.cw - view.tx) / view.scale,
    y1: (view.ch - view.ty) / view.scale,
  };
}

function draw() {
  const t0 = performance.now();
  const { dpr, scale } = view;
  ctx.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * view.tx, dpr * view.ty);
  const vis = visibleWorld();
  const detail = scale >= DETAIL_MIN_SCALE;
  // Past a few hundred changed boxes, one batched repaint beats box-by-box patches.
  if (dirty.size > 400) fullDraw = true;
  if (fullDraw) {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.restore();
    drawEdges(vis, detail);
    if (detail) {
      for (let b = 0; b < dag.n; b++) if (inView(b, vis)) drawCard(b);
    } else {
      drawBlocks(vis);
    }
    if (selected >= 0) drawSelection(selected);
    fullDraw = false;
  } else {
    for (const b of dirty) {
      if (!inView(b, vis)) continue;
      ctx.clearRect(dag.x[b] - 0.5, dag.y[b] - 0.5, dag.w + 1, dag.h[b] + 1);
      if (detail) drawCard(b);
      else drawBlock(b);
      if (b === selected) drawSelection(b);
    }
  }
  dirty.clear();
  const t1 = performance.now();
  window.__dag.lastDrawMs = t1 - t0;
  window.__dag.draws++;
  if (!window.__dag.firstDraw && dag.n) window.__dag.firstDraw = t1;
}

function inView(b, vis) {
  return dag.x[b] + dag.w >= vis.x0 && dag.x[b] <= vis.x1 && dag.y[b] + dag.h[b] >= vis.y0 && dag.y[b] <= vis.y1;
}

// Edges leave a box at the middle of its bottom and enter the next at the middle of its top.
function drawEdges(vis, detail) {
  const e = dag.edges;
  const half = dag.w / 2;
  const normal = new Path2D();
  const strong = new Path2D();
  const heads = new Path2D();
  const strongHeads = new Path2D();
  for (let k = 0; k < e.length; k += 2) {
    const p = e[k];
    const c = e[k + 1];
    const x0 = dag.x[p] + half;
    const y0 = dag.y[p] + dag.h[p];
    const x1 = dag.x[c] + half;
    const y1 = dag.y[c];
    if (Math.max(x0, x1) < vis.x0 || Math.min(x0, x1) > vis.x1 || y1 < vis.y0 || y0 > vis.y1) continue;
    const hot = selected >= 0 && (p === selected || c === selected);
    const path = hot ? strong : normal;
    path.moveTo(x0, y0);
    if (detail) {
      const mid = (y0 + y1) / 2;
      path.bezierCurveTo(x0, mid, x1, mid, x1, y1 - 5);
      const head = hot ? strongHeads : heads;
      head.moveTo(x1 - 4.5, y1 - 6);
      head.lineTo(x1 + 4.5, y1 - 6);
      head.lineTo(x1, y1);
      head.closePath();
    } else {
      path.lineTo(x1, y1);
    }
  }
  ctx.lineWidth = Math.max(1.3, 1 / view.scale);
  ctx.strokeStyle = "#aab3c0";
  ctx.stroke(normal);
  ctx.fillStyle = "#aab3c0";
  ctx.fill(heads);
  ctx.lineWidth = Math.max(2.2, 2 / view.scale);
  ctx.strokeStyle = "#3b5bdb";
  ctx.stroke(strong);
  ctx.fillStyle = "#3b5bdb";
  ctx.fill(strongHeads);
}

// Far out, one filled path per status: 10,000 boxes cost eight fills. A group is split into
// bands as wide as its share of each status, so its progress reads even without text.
function drawBlocks(vis) {
  const paths = STATUSES.map(() => new Path2D());
  const labelled = [];
  for (let b = 0; b < dag.n; b++) {
    if (!inView(b, vis)) continue;
    blockShape(b, paths);
    labelled.push(b);
  }
  paths.forEach((p, i) => {
    ctx.fillStyle = COLOR[i];
    ctx.fill(p);
  });
  if (labelled.length <= 3000) labelled.forEach(blockLabel);
}

function drawBlock(b) {
  const paths = STATUSES.map(() => new Path2D());
  blockShape(b, paths);
  paths.forEach((p, i) => {
    ctx.fillStyle = COLOR[i];
    ctx.fill(p);
  });
  blockLabel(b);
}

function blockShape(b, paths) {
  const counts = dag.groupCounts.get(b);
  if (!counts) {
    paths[dag.boxStatus[b]].rect(dag.x[b], dag.y[b], dag.w, dag.h[b]);
    return;
  }
  const total = dag.members.get(b).length;
  let x = dag.x[b];
  for (let s = 0; s < STATUSES.length; s++) {
    if (!counts[s]) continue;
    const part = (counts[s] / total) * dag.w;
    paths[s].rect(x, dag.y[b], part, dag.h[b]);
    x += part;
  }
}

// Labels in screen pixels, so they stay legible while the boxes shrink.
function blockLabel(b) {
  const h = dag.h[b] * view.scale;
  const w = dag.w * view.scale;
  if (h < 13 || w < 40) return;
  const { dpr } = view;
  ctx.save();
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const size = Math.min(12, Math.floor(h * 0.6));
  ctx.font = `600 ${size}px ${FONT}`;
  ctx.fillStyle = boxColour(b) === CODE.get("skipped") ? "#1b2230" : "#ffffff";
  ctx.textBaseline = "middle";
  const sx = dag.x[b] * view.scale + view.tx;
  const sy = (dag.y[b] + dag.h[b] / 2) * view.scale + view.ty;
  ctx.fillText(ellipsis(dag.labels[b], w - 10, ctx.font), sx + 5, sy);
  ctx.restore();
}

// A group is coloured by its most urgent state: failed, then running, queued, ... then completed.
const URGENCY = ["failed", "running", "aborted", "queued", "pending", "skipped", "cached", "completed"].map((s) => CODE.get(s));
function boxColour(b) {
  const counts = dag.groupCounts.get(b);
  if (!counts) return dag.boxStatus[b];
  for (const code of URGENCY) if (counts[code]) return code;
  return 0;
}

function roundRect(x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

function drawCard(b) {
  const x = dag.x[b];
  const y = dag.y[b];
  const w = dag.w;
  const h = dag.h[b];
  const code = boxColour(b);
  const counts = dag.groupCounts.get(b);
  roundRect(x, y, w, h, 7);
  ctx.fillStyle = "#ffffff";
  ctx.fill();
  ctx.lineWidth = code === RUNNING ? 1.6 : 1;
  ctx.strokeStyle = code === RUNNING ? COLOR[RUNNING] : "#d0d5dd";
  ctx.stroke();
  // status strip on the left edge
  ctx.save();
  roundRect(x, y, w, h, 7);
  ctx.clip();
  ctx.fillStyle = COLOR[code];
  ctx.fillRect(x, y, 5, h);
  ctx.restore();

  const stage = counts ? "" : dag.stages[dag.keys[b]] || "";
  if (stage) {
    ctx.font = `500 10px ${FONT}`;
    ctx.fillStyle = "#98a2b3";
    ctx.textAlign = "right";
    ctx.fillText(ellipsis(stage.toUpperCase(), 64, ctx.font), x + w - 12, y + 21);
    ctx.textAlign = "left";
  }
  ctx.fillStyle = "#1b2230";
  ctx.font = `600 13px ${FONT}`;
  ctx.textBaseline = "alphabetic";
  ctx.fillText(ellipsis(dag.labels[b], w - (stage ? 96 : 28)), x + 15, y + 22);
  ctx.font = `12px ${FONT}`;
  if (counts) {
    const total = dag.members.get(b).length;
    const done = counts[CODE.get("completed")] + counts[CODE.get("cached")];
    ctx.fillStyle = "#667085";
    ctx.fillText(`${done} / ${total} done${counts[RUNNING] ? ` · ${counts[RUNNING]} running` : ""}${counts[CODE.get("failed")] ? ` · ${counts[CODE.get("failed")]} failed` : ""}`, x + 15, y + 41);
    // per-status bar
    let bx = x + 15;
    const bw = w - 30;
    for (let s = 0; s < STATUSES.length; s++) {
      if (!counts[s]) continue;
      const part = (counts[s] / total) * bw;
      ctx.fillStyle = COLOR[s];
      ctx.fillRect(bx, y + 54, part, 8);
      bx += part;
    }
  } else {
    const i = dag.stepIndex.get(dag.keys[b]);
    ctx.fillStyle = COLOR[code];
    ctx.beginPath();
    ctx.arc(x + 19, y + 37, 3.5, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#667085";
    ctx.fillText(STATUSES[code], x + 28, y + 41);
    const text = elapsedText(i);
    if (text) {
      ctx.textAlign = "right";
      ctx.fillText(text, x + w - 12, y + 41);
      ctx.textAlign = "left";
    }
  }
}

function drawSelection(b) {
  roundRect(dag.x[b] - 3, dag.y[b] - 3, dag.w + 6, dag.h[b] + 6, 9);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#3b5bdb";
  ctx.stroke();
}

const widthCache = new Map();
function ellipsis(text, max, font = "") {
  const key = `${text}|${Math.round(max)}|${font}`;
  let out = widthCache.get(key);
  if (out !== undefined) return out;
  out = text;
  if (ctx.measureText(text).width > max) {
    let lo = 0;
    let hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(`${text.slice(0, mid)}…`).width <= max) lo = mid;
      else hi = mid - 1;
    }
    out = `${text.slice(0, lo)}…`;
  }
  if (widthCache.size > 20000) widthCache.clear();
  widthCache.set(key, out);
  return out;
}

function elapsedSeconds(i) {
  if (i === undefined || Number.isNaN(dag.started[i])) return null;
  const end = Number.isNaN(dag.ended[i]) ? Date.now() / 1000 + dag.clockSkew : dag.ended[i];
  return dag.status[i] === RUNNING || !Number.isNaN(dag.ended[i]) ? Math.max(0, end - dag.started[i]) : null;
}

function elapsedText(i) {
  const s = elapsedSeconds(i);
  if (s === null) return "";
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
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

// ---------------------------------------------------------------- steps list (virtualised)

const steps = (() => {
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
      row.addEventListener("click", () => selectStep(Number(row.dataset.step), true));
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
      row.children[2].textContent = elapsedText(i);
      row.classList.toggle("selected", selectedStep === i);
      row.title = `${dag.names[i]} · ${STATUSES[dag.status[i]]}`;
    });
  }

  list.addEventListener("scroll", render);
  search.addEventListener("input", refresh);
  filter.addEventListener("change", refresh);
  return { refresh, refreshVisible, render };
})();

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

// A newer click or leaving the page cancels the request; that is not an error worth reporting.
function showInfo(url) {
  window.htmx.ajax("GET", url, { target: "#info", swap: "innerHTML" }).catch(() => {});
}

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
  selectBox(b);
  selectedStep = -1;
  const idx = dag.members.get(b);
  const counts = dag.groupCounts.get(b);
  const bars = STATUSES.map((s, k) => (counts[k] ? `<span style="width:${(100 * counts[k]) / idx.length}%;background:${COLOR[k]}" title="${s}: ${counts[k]}"></span>` : "")).join("");
  const rows = STATUSES.map((s, k) => (counts[k] ? `<tr><th><i class="dot dot-${s}"></i>${s}</th><td class="num">${counts[k]}</td></tr>` : "")).join("");
  info.innerHTML = `<div class="info-head"><div class="eyebrow"><a href="#" data-back>Run info</a> / Group</div>
    <h2></h2><div class="meta">${idx.length} steps with the same parents and children</div></div>
    <div class="group-bars">${bars}</div><table class="kv">${rows}</table>
    <h3>Steps</h3><p class="muted">Pick one in the list on the left; it is filtered to this group.</p>`;
  info.querySelector("h2").textContent = dag.labels[b];
  const stem = dag.labels[b].replace(/\* \(\d+\)$/, "");
  const search = document.getElementById("step-search");
  search.value = stem === "steps" ? "" : stem;
  steps.refresh();
}

info.addEventListener("click", (ev) => {
  if (ev.target.closest("[data-back]")) {
    ev.preventDefault();
    showRunInfo();
  }
});
document.body.addEventListener("htmx:afterSwap", (ev) => initPanels(ev.target));

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
document.addEventListener("ductwork:changed", () => refreshStates());
initActions(document);
load().then(listen);
