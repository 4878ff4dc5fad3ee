// Run actions (abort, continue, clone, archive, tags) through the REST API, and the modal host.
// Buttons carry `data-action` and `data-run`; after an action the page's live parts refresh.

// The words for a task's stored status: the one table the CLI uses too (core.display), in base.html.
const TASK_STATUS = JSON.parse(document.querySelector('meta[name="status-words"]')?.content || "{}");

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || `${res.status} ${res.statusText}`);
  return data;
}

const ACTIONS = {
  abort: (id) => (confirm("Abort this run and all its unfinished steps?") ? api("POST", `/api/runs/${id}/abort`) : null),
  continue: (id) => api("POST", `/api/runs/${id}/continue`, {}),
  clone: async (id) => {
    const copy = await api("POST", `/api/tasks/${id}/clone`, {});
    window.location.href = `/runs/${copy.id}`;
  },
  archive: (id) => api("PATCH", `/api/tasks/${id}`, { archived: true }),
  // Deleting cannot be undone: the dialog says what goes, and only a yes deletes.
  delete: async (id, button) => {
    const steps = button.dataset.steps === undefined ? -1 : Number(button.dataset.steps);
    const which = steps < 0 ? "all its steps" : `its ${steps} step${steps === 1 ? "" : "s"}`;
    const what = `Delete this run and ${which}: their metrics, console and artifacts? This cannot be undone.`;
    if (!confirm(what)) return null;
    const done = await api("DELETE", `/api/runs/${id}`);
    if (!button.dataset.then) return done; // a runs table: it refreshes without the row
    window.location.href = button.dataset.then;
    return null;
  },
  restore: (id) => api("PATCH", `/api/tasks/${id}`, { archived: false }),
  tag: async (id) => {
    const tag = (prompt("Add a tag") || "").trim();
    if (!tag) return null;
    const task = await api("GET", `/api/tasks/${id}`);
    if (task.tags.includes(tag)) return null;
    return api("PATCH", `/api/tasks/${id}`, { tags: [...task.tags, tag] });
  },
};

export function initActions(root) {
  root.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-action]");
    if (!button || !ACTIONS[button.dataset.action]) return;
    ev.preventDefault();
    button.closest("details")?.removeAttribute("open");
    button.disabled = true;
    try {
      const done = await ACTIONS[button.dataset.action](button.dataset.run, button);
      if (done !== null) {
        const detail = { run: button.dataset.run, action: button.dataset.action };
        document.dispatchEvent(new CustomEvent("ductwork:changed", { detail }));
      }
    } catch (err) {
      toast(err.message);
    } finally {
      button.disabled = false;
    }
  });
  // The NEW RUN modal is swapped into #modal by htmx; anything marked data-close empties it.
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("#modal [data-close]")) document.getElementById("modal").replaceChildren();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") document.getElementById("modal")?.replaceChildren();
  });
}

// A message that does not block the page, gone after a while or on click.
export function toast(message) {
  const note = document.createElement("div");
  note.className = "toast";
  note.setAttribute("role", "alert");
  note.textContent = message;
  note.addEventListener("click", () => note.remove());
  document.body.append(note);
  setTimeout(() => note.remove(), 8000);
}

export function runStatusOf(taskStatus) {
  return TASK_STATUS[taskStatus] || taskStatus;
}
