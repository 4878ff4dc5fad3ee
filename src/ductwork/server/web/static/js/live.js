// Live updates pushed by the server (GET /api/events, Server-Sent Events): one stream per task
// a page follows, shared by every widget that listens to it. A widget is told when the task
// changed (`task`: its status or times; `updated`: written without that, e.g. new console
// lines) and reads what it shows then, instead of asking the server on a timer.
const streams = new Map(); // task id -> {source, listeners}

// Calls `changed()` whenever task `taskId` changes, and once each time the stream (re)opens
// (anything may have changed while it was closed). Returns {open(), close()}: `open()` says
// whether pushes arrive now (a widget falls back to a slow timer while they do not).
export function followTask(taskId, changed) {
  let entry = streams.get(taskId);
  if (!entry && window.EventSource) {
    const source = new EventSource(`/api/events?task=${encodeURIComponent(taskId)}`);
    entry = { source, listeners: new Set() };
    const tell = (ev) => {
      if (ev.type !== "open" && JSON.parse(ev.data).id !== taskId) return;
      for (const listener of entry.listeners) listener();
    };
    source.addEventListener("open", tell);
    source.addEventListener("task", tell);
    source.addEventListener("updated", tell);
    streams.set(taskId, entry);
  }
  if (entry) entry.listeners.add(changed);
  return {
    open: () => Boolean(entry && entry.source.readyState === 1),
    close: () => {
      if (!entry) return;
      entry.listeners.delete(changed);
      if (!entry.listeners.size) {
        entry.source.close();
        streams.delete(taskId);
      }
    },
  };
}
