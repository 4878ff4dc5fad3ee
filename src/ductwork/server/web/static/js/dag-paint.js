// Painting the DAG on its canvas: cards when near, coloured blocks when far, edges between them.
// The page owns the state (layout, statuses, view); this module only reads it and draws.

export const STATUSES = ["pending", "queued", "running", "completed", "failed", "cached", "skipped", "aborted"];
export const CODE = new Map(STATUSES.map((s, i) => [s, i]));
export const RUNNING = CODE.get("running");
export const DETAIL_MIN_SCALE = 0.45; // below this, boxes are drawn as coloured blocks without text
const css = getComputedStyle(document.documentElement);
export const COLOR = STATUSES.map((s) => css.getPropertyValue(`--${s}`).trim() || "#98a2b3");
const FONT = css.getPropertyValue("--font").trim() || "sans-serif";
const BATCH_OVER = 400; // past this many changed boxes, one batched repaint beats box-by-box patches

// A step's elapsed time as its card shows it: live while running (server clock), fixed once ended.
export function elapsedText(dag, i) {
  const s = elapsedSeconds(dag, i);
  if (s === null) return "";
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

function elapsedSeconds(dag, i) {
  if (i === undefined || Number.isNaN(dag.started[i])) return null;
  const end = Number.isNaN(dag.ended[i]) ? Date.now() / 1000 + dag.clockSkew : dag.ended[i];
  return dag.status[i] === RUNNING || !Number.isNaN(dag.ended[i]) ? Math.max(0, end - dag.started[i]) : null;
}

export function createPainter(canvas, dag, view) {
  const ctx = canvas.getContext("2d");

  // Everything when `full` (or when many boxes changed), else only the `dirty` boxes.
  function paint({ full, dirty, selected }) {
    const { dpr, scale } = view;
    ctx.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * view.tx, dpr * view.ty);
    const vis = visibleWorld();
    const detail = scale >= DETAIL_MIN_SCALE;
    if (full || dirty.size > BATCH_OVER) {
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.restore();
      drawEdges(vis, detail, selected);
      if (detail) {
        for (let b = 0; b < dag.n; b++) if (inView(b, vis)) drawCard(b);
      } else {
        drawBlocks(vis);
      }
      if (selected >= 0) drawSelection(selected);
      return;
    }
    for (const b of dirty) {
      if (!inView(b, vis)) continue;
      ctx.clearRect(dag.x[b] - 0.5, dag.y[b] - 0.5, dag.w + 1, dag.h[b] + 1);
      if (detail) drawCard(b);
      else drawBlock(b);
      if (b === selected) drawSelection(b);
    }
  }

  function visibleWorld() {
    return {
      x0: -view.tx / view.scale,
      y0: -view.ty / view.scale,
      x1: (view.cw - view.tx) / view.scale,
      y1: (view.ch - view.ty) / view.scale,
    };
  }

  function inView(b, vis) {
    return dag.x[b] + dag.w >= vis.x0 && dag.x[b] <= vis.x1 && dag.y[b] + dag.h[b] >= vis.y0 && dag.y[b] <= vis.y1;
  }

  // Edges leave a box at the middle of its bottom and enter the next at the middle of its top.
  function drawEdges(vis, detail, selected) {
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
      const summary = `${done} / ${total} done${counts[RUNNING] ? ` · ${counts[RUNNING]} running` : ""}${counts[CODE.get("failed")] ? ` · ${counts[CODE.get("failed")]} failed` : ""}`;
      ctx.fillText(ellipsis(summary, w - 28), x + 15, y + 41);
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
      const text = elapsedText(dag, i);
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

  return { paint, boxColour };
}
