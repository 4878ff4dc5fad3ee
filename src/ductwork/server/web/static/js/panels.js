// Widgets shared by the run page's info panel and the task pages: tabs, a virtualised live
// console, uPlot scalar charts (smoothing, x by iteration or time) and simple plot rendering.
// uPlot is loaded the first time a chart is drawn, so pages without charts never pay for it.
import { followTask } from "/static/js/live.js";

let uPlot = null;
async function charting() {
  if (!uPlot) uPlot = (await import("/static/vendor/uplot/uPlot.esm.js")).default;
  return uPlot;
}

const PALETTE = ["#2f6fed", "#e0457b", "#1a9a55", "#e08a00", "#8b5cf6", "#0e9384", "#d92d20", "#475467"];
const LINE_H = 18;
const LINE_GUTTER = 20 + 58; // a row's side padding and its line number
const PAGE = 10000; // console lines per request

export function initPanels(root) {
  root.querySelectorAll(".tabs:not([data-ready])").forEach(initTabs);
  root.querySelectorAll("[data-console]:not([data-ready])").forEach((el) => {
    if (el.offsetParent !== null) new ConsoleView(el);
  });
  root.querySelectorAll("[data-charts]:not([data-ready])").forEach((el) => {
    if (el.offsetParent !== null) loadCharts(el);
  });
  root.querySelectorAll("[data-plots]:not([data-ready])").forEach((el) => {
    if (el.offsetParent !== null) loadPlots(el);
  });
}

function initTabs(nav) {
  nav.dataset.ready = "1";
  const scope = nav.parentElement;
  nav.querySelectorAll("button.tab").forEach((tab) => {
    tab.addEventListener("click", () => {
      nav.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
      scope.querySelectorAll(":scope > .tab-panel").forEach((panel) => {
        panel.hidden = panel.dataset.panel !== tab.dataset.tab;
      });
      // Widgets in a hidden panel have no size yet; build them when first shown.
      initPanels(scope.querySelector(`:scope > .tab-panel[data-panel="${tab.dataset.tab}"]`));
    });
  });
}

// --- console: only the lines near the view are in the DOM, so a million-line log scrolls smoothly.
// Long lines wrap (a traceback reads whole) or, with "Wrap" off, scroll sideways; nothing is cut.
// Lines before and after the rendered window are spacers whose heights are estimated from each
// line's length in monospace characters; the window itself flows, so rows never overlap.

const WRAP_KEY = "ductwork.console.wrap";

function wrapWanted() {
  try {
    return window.localStorage.getItem(WRAP_KEY) !== "0";
  } catch {
    return true; // storage refused (a sandboxed frame): wrap, the readable default
  }
}

class ConsoleView {
  constructor(el) {
    el.dataset.ready = "1";
    this.el = el;
    this.taskId = el.dataset.console;
    this.lines = []; // [stream, text]
    this.acc = [0]; // acc[i]: estimated visual rows before line i
    this.cols = 0;
    this.after = 0;
    this.window = [-1, -1];
    this.wrap = wrapWanted();
    this.top = document.createElement("div");
    this.body = document.createElement("div");
    this.body.className = "console-body";
    this.bottom = document.createElement("div");
    this.el.append(this.top, this.body, this.bottom);
    this.el.classList.toggle("nowrap", !this.wrap);
    this.el.before(this.toolbar());
    this.el.addEventListener("scroll", () => this.render());
    new ResizeObserver(() => this.remeasure()).observe(this.el);
    // New lines are read when the server says the task changed, not on a timer (live.js).
    this.follow = followTask(this.taskId, () => this.changed());
    this.poll();
  }

  changed() {
    if (this.reading) this.again = true; // read on when the read in flight ends
    else this.poll();
  }

  toolbar() {
    const bar = document.createElement("div");
    bar.className = "console-tools";
    bar.innerHTML = `<label class="check"><input type="checkbox" data-wrap> Wrap long lines</label>
      <button type="button" class="btn btn-sm btn-ghost" data-copy>Copy all</button>`;
    const box = bar.querySelector("[data-wrap]");
    box.checked = this.wrap;
    box.addEventListener("change", () => {
      this.wrap = box.checked;
      try {
        window.localStorage.setItem(WRAP_KEY, this.wrap ? "1" : "0");
      } catch {
        // not kept for the next page: fine
      }
      this.el.classList.toggle("nowrap", !this.wrap);
      this.remeasure(true);
    });
    bar.querySelector("[data-copy]").addEventListener("click", (ev) => this.copyAll(ev.currentTarget));
    return bar;
  }

  // The whole log as text, every line in full (what a reader pastes into an issue).
  text() {
    return this.lines.map(([, text]) => text).join("\n");
  }

  async copyAll(button) {
    const text = this.text();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement("textarea"); // no clipboard API (plain http on a LAN)
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = `Copied ${this.lines.length} lines`;
    setTimeout(() => { button.textContent = "Copy all"; }, 2000);
  }

  // Characters per visual row, from the console's width and one character's width.
  columns() {
    if (!this.wrap) return Infinity;
    if (!this.charWidth) {
      const probe = document.createElement("span");
      probe.className = "console-probe";
      probe.textContent = "0".repeat(100);
      this.el.append(probe);
      this.charWidth = probe.getBoundingClientRect().width / 100 || 7.2;
      probe.remove();
    }
    return Math.max(8, Math.floor((this.el.clientWidth - LINE_GUTTER) / this.charWidth));
  }

  rowsOf(text) {
    if (this.cols === Infinity || text.length <= this.cols) return 1;
    return Math.ceil(text.replace(/\t/g, "        ").length / this.cols);
  }

  remeasure(force = false) {
    const cols = this.columns();
    if (!force && cols === this.cols) return;
    this.cols = cols;
    this.acc = [0];
    for (const [, text] of this.lines) this.acc.push(this.acc[this.acc.length - 1] + this.rowsOf(text));
    this.window = [-1, -1];
    this.render();
  }

  async poll() {
    if (!this.el.isConnected) return this.follow.close();
    this.reading = true;
    this.again = false;
    clearTimeout(this.timer);
    let final = true;
    let more = false;
    let live = true;
    try {
      const res = await fetch(`/tasks/${this.taskId}/console.json?after=${this.after}&limit=${PAGE}`);
      if (res.ok) {
        const body = await res.json();
        final = body.final && body.lines.length === 0;
        live = body.live;
        more = body.lines.length === PAGE; // a long log: read on at once, do not wait a second per page
        if (body.lines.length) this.append(body.lines);
      }
    } catch {
      final = false; // the server restarted or the network blinked: try again
    }
    this.render();
    this.reading = false;
    // Pushed: the next read waits for the server to say the task changed. Without the stream
    // (closed, reconnecting), a running task's log is tailed every second, a draft's now and then.
    if (more || this.again) this.poll();
    else if (final) this.follow.close();
    else if (!this.follow.open()) this.timer = setTimeout(() => this.poll(), live ? 1000 : 5000);
  }

  append(lines) {
    const atBottom = this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - LINE_H * 2;
    if (!this.cols) this.cols = this.columns();
    for (const [seq, stream, , text] of lines) {
      this.after = Math.max(this.after, seq);
      for (const part of text.replace(/\n$/, "").split("\n")) {
        this.lines.push([stream, part]);
        this.acc.push(this.acc[this.acc.length - 1] + this.rowsOf(part));
      }
    }
    this.window = [-1, -1];
    this.render();
    // Following the end: the rows rendered there may be taller than estimated, so settle twice.
    for (let k = 0; atBottom && k < 3; k++) {
      this.el.scrollTop = this.el.scrollHeight;
      this.render();
    }
  }

  // The last line starting at or above visual row `row`.
  lineAt(row) {
    let lo = 0;
    let hi = this.lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.acc[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  render() {
    if (!this.lines.length) {
      this.el.dataset.empty = "1";
      if (!this.el.querySelector(".console-empty")) {
        const note = document.createElement("div");
        note.className = "console-empty";
        note.textContent = "No console output yet.";
        this.el.append(note);
      }
      return;
    }
    delete this.el.dataset.empty;
    this.el.querySelector(".console-empty")?.remove();
    const first = Math.max(0, this.lineAt(Math.floor(this.el.scrollTop / LINE_H)) - 5);
    const last = Math.min(this.lines.length, first + Math.ceil(this.el.clientHeight / LINE_H) + 10);
    if (first === this.window[0] && last === this.window[1]) return; // keeps a selection in place
    this.window = [first, last];
    const total = this.acc[this.lines.length];
    this.top.style.height = `${this.acc[first] * LINE_H}px`;
    this.bottom.style.height = `${(total - this.acc[last]) * LINE_H + 8}px`;
    const rows = [];
    for (let i = first; i < last; i++) {
      const [stream, text] = this.lines[i];
      const row = document.createElement("div");
      row.className = `line ${stream}`;
      const number = document.createElement("span");
      number.className = "ln";
      number.textContent = String(i + 1);
      const body = document.createElement("span");
      body.className = "tx";
      body.textContent = text;
      row.append(number, body);
      rows.push(row);
    }
    this.body.replaceChildren(...rows);
  }
}

// --- scalars ---

export async function loadCharts(el, url) {
  el.dataset.ready = "1";
  const source = url || `/tasks/${el.dataset.charts}/scalars.json`;
  const library = charting(); // load uPlot while the series are on their way
  try {
    const early = window.__prefetch && window.__prefetch[source];
    if (early) delete window.__prefetch[source]; // later reloads must read fresh data
    const charts = early ? await early : await (await fetch(source)).json();
    await library;
    drawCharts(el, charts);
  } catch {
    el.innerHTML = '<p class="muted">Scalars could not be loaded; reload to try again.</p>';
  }
}

export async function drawCharts(el, charts) {
  await charting();
  el.replaceChildren();
  if (!charts.length) {
    el.innerHTML = '<p class="muted">No scalars reported.</p>';
    return;
  }
  for (const chart of charts) el.append(scalarChart(chart));
}

function scalarChart(chart) {
  const box = document.createElement("div");
  box.className = "chart";
  box.innerHTML = `<div class="chart-head"><h4></h4><div class="chart-tools">
      <label>Smoothing <input type="range" min="0" max="0.99" step="0.01" value="0"></label>
      <select aria-label="X axis"><option value="x">Iteration</option><option value="t">Time</option></select>
    </div></div><div class="plot-area"></div><div class="chart-note"></div>`;
  box.querySelector("h4").textContent = chart.title;
  const total = chart.series.reduce((n, s) => n + s.points, 0);
  const shown = chart.series.reduce((n, s) => n + s.y.length, 0);
  if (shown < total) {
    box.querySelector(".chart-note").textContent =
      `${total.toLocaleString()} points, ${shown.toLocaleString()} drawn (downsampled on the server)`;
  }
  const area = box.querySelector(".plot-area");
  const slider = box.querySelector("input");
  const axis = box.querySelector("select");
  let plot = null;
  const draw = () => {
    const { data, series } = alignSeries(chart.series, axis.value, Number(slider.value));
    const width = Math.max(280, area.clientWidth || box.clientWidth - 20 || 400);
    const opts = {
      width,
      height: 220,
      scales: { x: { time: false } },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      axes: [
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, label: axis.value === "t" ? "seconds" : "iteration" },
        { stroke: "#667085", grid: { stroke: "#eef0f3" } },
      ],
      series: [{ label: axis.value === "t" ? "time" : "iteration" }, ...series],
    };
    if (plot) plot.destroy();
    plot = new uPlot(opts, data, area);
  };
  slider.addEventListener("input", draw);
  axis.addEventListener("change", draw);
  requestAnimationFrame(draw);
  box.drawNow = draw;
  return box;
}

// uPlot wants one shared x array; series reported at different steps get nulls where they have no point.
function alignSeries(list, xKey, smoothing) {
  const xs = list.map((s) => (xKey === "t" ? s.t.map((t) => t - s.t[0]) : s.x));
  const same = xs.every((x) => x.length === xs[0].length && x.every((v, i) => v === xs[0][i]));
  let xAll;
  let columns;
  if (same) {
    xAll = xs[0];
    columns = list.map((s) => smooth(s.y, smoothing));
  } else {
    xAll = Array.from(new Set(xs.flat())).sort((a, b) => a - b);
    const at = new Map(xAll.map((x, i) => [x, i]));
    columns = list.map((s, k) => {
      const col = new Array(xAll.length).fill(null);
      const ys = smooth(s.y, smoothing);
      xs[k].forEach((x, i) => {
        col[at.get(x)] = ys[i];
      });
      return col;
    });
  }
  const series = list.map((s, k) => ({
    label: s.name,
    stroke: PALETTE[k % PALETTE.length],
    width: 1.5,
    spanGaps: true,
    points: { show: s.y.length < 60 },
  }));
  return { data: [xAll, ...columns], series };
}

// Exponential moving average with bias correction, so the start of the curve is not pulled to zero.
function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    last = last * weight + (1 - weight) * values[i];
    n++;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

// --- plots: plotly figures drawn simply (lines, markers, bars); images as images ---

export async function loadPlots(el) {
  el.dataset.ready = "1";
  let items;
  try {
    const res = await fetch(`/tasks/${el.dataset.plots}/plots.json`);
    items = await res.json();
    await charting();
  } catch {
    el.innerHTML = '<p class="muted">Plots could not be loaded; reload to try again.</p>';
    return;
  }
  el.replaceChildren();
  if (!items.length) {
    el.innerHTML = '<p class="muted">No plots reported.</p>';
    return;
  }
  for (const item of items) el.append(plotBox(item));
}

function plotBox(item) {
  const box = document.createElement("div");
  box.className = "chart plot";
  const head = document.createElement("div");
  head.className = "chart-head";
  head.innerHTML = "<h4></h4><span class='chart-note'></span>";
  head.querySelector("h4").textContent = item.series && item.series !== item.title ? `${item.title} / ${item.series}` : item.title;
  head.querySelector(".chart-note").textContent = `iteration ${item.iteration}`;
  box.append(head);
  if (item.kind === "image") {
    box.append(sample(item));
    return box;
  }
  if (item.kind === "table") {
    box.append(tableOf(item.payload || {}));
    return box;
  }
  const figure = typeof item.payload === "string" ? safeJson(item.payload) : item.payload;
  // A surface is drawn as the heatmap of its heights: the same z matrix seen from above.
  const heat = ((figure && figure.data) || []).find((t) => (t.type === "heatmap" || t.type === "surface") && Array.isArray(t.z));
  if (heat) {
    box.append(heatmap(heat));
    return box;
  }
  const traces = (figure && figure.data) || [];
  const clouds = traces.filter((t) => t.type === "scatter3d" && Array.isArray(t.x) && Array.isArray(t.y) && Array.isArray(t.z));
  if (clouds.length) {
    box.append(isometric(clouds, figure.layout || {}));
    return box;
  }
  const drawable = traces.filter((t) => Array.isArray(t.y) && (!t.type || t.type === "scatter" || t.type === "bar" || t.type === "scattergl"));
  if (!drawable.length) {
    const pre = document.createElement("pre");
    pre.className = "preview";
    pre.textContent = JSON.stringify(figure, null, 2).slice(0, 20000);
    box.append(pre);
    return box;
  }
  const area = document.createElement("div");
  box.append(area);
  requestAnimationFrame(() => drawTraces(area, drawable, figure.layout || {}));
  return box;
}

// A debug sample: a picture, a player for audio and video this server stores (the page's policy
// plays no other), a link for any other file (an HTML sample is a download: the server never
// sends it as a page).
function sample(item) {
  const media = item.media || "image";
  const stored = String(item.payload).startsWith("/");
  if ((media === "audio" || media === "video") && stored) {
    const player = document.createElement(media);
    player.controls = true;
    player.preload = "metadata";
    player.src = item.payload;
    return player;
  }
  if (media !== "image") {
    const link = document.createElement("a");
    link.href = item.payload;
    link.rel = "noopener noreferrer";
    link.textContent = `download ${item.series || item.title}`;
    return link;
  }
  const img = document.createElement("img");
  img.src = item.payload;
  img.alt = item.title;
  img.loading = "lazy";
  return img;
}

function drawTraces(area, traces, layout) {
  const categorical = traces.some((t) => Array.isArray(t.x) && t.x.some((v) => typeof v === "string"));
  const labels = categorical ? Array.from(new Set(traces.flatMap((t) => t.x))) : null;
  const series = traces.map((t, k) => ({
    x: (t.x || t.y.map((_, i) => i)).map((v) => (categorical ? labels.indexOf(v) : Number(v))),
    y: t.y.map(Number),
    points: [],
    name: t.name || `trace ${k}`,
    t: [],
  }));
  series.forEach((s) => { s.t = s.x; });
  const { data, series: opts } = alignSeries(series, "x", 0);
  traces.forEach((t, k) => {
    const s = opts[k];
    if (t.type === "bar") {
      s.paths = uPlot.paths.bars({ size: [0.6, 64] });
      s.fill = `${PALETTE[k % PALETTE.length]}99`;
      s.points = { show: false };
    } else if (t.mode === "markers") {
      s.paths = () => null;
      s.points = { show: true, size: 5, fill: PALETTE[k % PALETTE.length] };
    }
  });
  const bars = traces.some((t) => t.type === "bar");
  const axisTitle = (a) => (a && (typeof a.title === "string" ? a.title : a.title && a.title.text)) || "";
  new uPlot(
    {
      width: Math.max(280, area.clientWidth || 400),
      height: 240,
      // Bars grow from zero; a range starting at the smallest bar would exaggerate differences.
      scales: {
        // Bars are half a slot wide on each side of their x: leave room for the outer ones.
        x: bars ? { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] } : { time: false },
        y: bars ? { range: (u, lo, hi) => [Math.min(0, lo), hi] } : {},
      },
      axes: [
        {
          stroke: "#667085",
          grid: { stroke: "#eef0f3" },
          label: axisTitle(layout.xaxis),
          splits: labels ? () => labels.map((_, i) => i) : undefined,
          values: labels ? (u, ticks) => ticks.map((v) => labels[v] ?? "") : undefined,
        },
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, label: axisTitle(layout.yaxis) },
      ],
      series: [{ label: axisTitle(layout.xaxis) || "x" }, ...opts],
    },
    data,
    area,
  );
}

function tableOf(payload) {
  const wrap = document.createElement("div");
  wrap.className = "preview-table";
  const table = document.createElement("table");
  table.className = "table compact";
  const head = table.createTHead().insertRow();
  for (const c of payload.columns || []) head.appendChild(document.createElement("th")).textContent = String(c);
  const body = table.createTBody();
  for (const row of (payload.rows || []).slice(0, 200)) {
    const tr = body.insertRow();
    for (const v of row) tr.insertCell().textContent = v === null ? "" : String(v);
  }
  wrap.append(table);
  return wrap;
}

// A heatmap (a confusion matrix, most often) as coloured cells with their values.
function heatmap(trace) {
  const z = trace.z;
  const rows = z.length;
  const cols = Math.max(...z.map((r) => r.length));
  const flat = z.flat().filter((v) => typeof v === "number");
  const lo = Math.min(...flat);
  const hi = Math.max(...flat);
  const canvas = document.createElement("canvas");
  const cell = Math.max(14, Math.min(48, Math.floor(360 / Math.max(rows, cols))));
  const pad = 44;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = (pad + cols * cell) * dpr;
  canvas.height = (rows * cell + pad) * dpr;
  canvas.style.width = `${pad + cols * cell}px`;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.font = `11px ${getComputedStyle(document.body).fontFamily}`;
  g.textAlign = "center";
  g.textBaseline = "middle";
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < z[r].length; c++) {
      const v = z[r][c];
      const t = hi > lo ? (v - lo) / (hi - lo) : 0;
      g.fillStyle = `rgb(${Math.round(238 - 191 * t)}, ${Math.round(242 - 151 * t)}, ${Math.round(255 - 36 * t)})`;
      g.fillRect(pad + c * cell, r * cell, cell - 1, cell - 1);
      if (cell >= 22) {
        g.fillStyle = t > 0.55 ? "#ffffff" : "#1b2230";
        g.fillText(Number.isInteger(v) ? String(v) : v.toPrecision(3), pad + c * cell + cell / 2, r * cell + cell / 2);
      }
    }
    if (trace.y) {
      g.fillStyle = "#667085";
      g.textAlign = "right";
      g.fillText(String(trace.y[r] ?? r).slice(0, 6), pad - 6, r * cell + cell / 2);
      g.textAlign = "center";
    }
  }
  if (trace.x) {
    g.fillStyle = "#667085";
    for (let c = 0; c < cols; c++) g.fillText(String(trace.x[c] ?? c).slice(0, 6), pad + c * cell + cell / 2, rows * cell + 14);
  }
  return canvas;
}

// 3-D points in a small isometric view: x to the lower right, y to the lower left, z up; each
// trace in its palette colour, with its axes named. Hovering a point shows its (x, y, z).
function isometric(traces, layout) {
  const size = 300;
  const canvas = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = size * dpr;
  canvas.height = size * dpr;
  canvas.style.width = `${size}px`;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.font = `11px ${getComputedStyle(document.body).fontFamily}`;
  const span = (axis) => {
    const values = traces.flatMap((t) => t[axis].map(Number)).filter(Number.isFinite);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return (v) => (hi > lo ? (Number(v) - lo) / (hi - lo) : 0.5);
  };
  const [fx, fy, fz] = [span("x"), span("y"), span("z")];
  const unit = size * 0.36;
  const at = (x, y, z) => [size / 2 + (x - y) * unit * 0.87, size * 0.52 + (x + y) * unit * 0.5 - z * unit];
  const scene = layout.scene || {};
  const title = (a) => (a && (typeof a.title === "string" ? a.title : a.title && a.title.text)) || "";
  g.strokeStyle = "#98a2b3";
  g.fillStyle = "#667085";
  for (const [axis, end, name] of [["xaxis", [1, 0, 0], "x"], ["yaxis", [0, 1, 0], "y"], ["zaxis", [0, 0, 1], "z"]]) {
    const [x0, y0] = at(0, 0, 0);
    const [x1, y1] = at(...end);
    g.beginPath();
    g.moveTo(x0, y0);
    g.lineTo(x1, y1);
    g.stroke();
    g.fillText(title(scene[axis]) || name, x1 + 4, y1 - 4);
  }
  const marks = [];
  traces.forEach((t, k) => {
    g.fillStyle = PALETTE[k % PALETTE.length];
    g.strokeStyle = PALETTE[k % PALETTE.length];
    const lines = typeof t.mode === "string" && t.mode.includes("lines");
    g.beginPath();
    t.x.forEach((x, i) => {
      const [px, py] = at(fx(x), fy(t.y[i]), fz(t.z[i]));
      if (lines) (i ? g.lineTo(px, py) : g.moveTo(px, py));
      g.fillRect(px - 3, py - 3, 6, 6);
      const label = t.text && t.text[i] !== undefined ? `${t.text[i]}: ` : "";
      marks.push([px, py, `${label}(${x}, ${t.y[i]}, ${t.z[i]})`]);
    });
    if (lines) g.stroke();
  });
  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const [mx, my] = [event.clientX - box.left, event.clientY - box.top];
    const near = marks.find(([px, py]) => Math.abs(px - mx) < 5 && Math.abs(py - my) < 5);
    canvas.title = near ? near[2] : "";
  });
  return canvas;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}
