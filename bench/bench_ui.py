"""Web UI benchmark: a 10,000-step run page in headless Chromium, its layout, a 100k-point chart.

    python bench/bench_ui.py [--steps 10000] [--points 100000] [--repeat 5]

Prints each figure with its target and the ratio (figure / target; below 1.0 meets it):

* layout: server time for the layered layout of the 10,000-step DAG (cache cleared each time),
  beside a floor of one plain Python pass that only reads every step and edge;
* layout.json: the whole feed (store reads + layout + JSON) as the browser fetches it;
* first draw: from navigation start to the DAG fully drawn on the canvas;
* status update: every one of the 10,000 steps changes status; time to apply it and repaint;
* scalars: 100,000 points of one series served downsampled, and drawn by uPlot.
* pushed status change: one step's status written (through the server's API, and by another
  connection of the store, as a local-mode controller or an embedded agent writes it) until
  the open run page's event stream delivers it (target < 100 ms p50); floor: the same
  page's round trip of a plain request to the server (fetch of /api/health).

The run is written straight through the store (the shape a controller records), steps in
100 chains of 100, so no fan-out grouping hides any of the 10,000 boxes.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def report(name: str, value_ms: float, target_ms: float, floor_ms: float | None = None) -> None:
    floor = f"   floor {floor_ms:7.1f} ms ({value_ms / floor_ms:.1f}x)" if floor_ms else ""
    ratio = value_ms / target_ms
    print(f"{name:<52} {value_ms:8.1f} ms   target < {target_ms:5.0f} ms   ratio {ratio:5.2f}{floor}")


def write_run(store: Any, steps: int) -> tuple[str, dict[str, list[str]]]:
    from ductwork.core.records import ConfigObject, NodeState, TaskRecord, TaskTypes

    project = store.ensure_project("bench/.pipelines/wide", system_tags=["pipeline", "hidden"])
    run = store.create_task(
        TaskRecord(name="wide", project=project.id, type=TaskTypes.controller, system_tags=["pipeline"])
    )
    store.set_status(run.id, "in_progress", force=True)
    chains = max(1, int(steps**0.5))
    parents: dict[str, list[str]] = {}
    for c in range(chains):
        for k in range(steps // chains):
            parents[f"c{c}_s{k}"] = [f"c{c}_s{k - 1}"] if k else []
    dag = {name: {"parents": ps, "status": "pending"} for name, ps in parents.items()}
    store.set_configuration(run.id, "Pipeline", ConfigObject(text=json.dumps(dag), type="json"))
    now = time.time()
    store.put_nodes([NodeState(run_id=run.id, name=n, status="running", started=now - 5) for n in parents])
    return run.id, parents


def bench_layout(parents: dict[str, list[str]], repeat: int) -> None:
    from ductwork.server.services import layout

    times = []
    for _ in range(repeat):
        layout._cache.clear()
        t0 = time.perf_counter()
        result = layout.layout_dag(parents)
        times.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    touched = 0
    for name, ps in parents.items():
        touched += len(name) + len(ps)
    floor = (time.perf_counter() - t0) * 1000
    report(f"layout of {len(result.nodes):,} nodes (server)", statistics.median(times), 300, floor)
    t0 = time.perf_counter()
    layout.layout_dag(parents)
    print(f"{'  same DAG again (cached)':<52} {(time.perf_counter() - t0) * 1000:8.1f} ms")


def start_server(store: Any, artifacts: str) -> tuple[str, Any]:
    import uvicorn

    from ductwork.server.app import create_app

    app = create_app(store=store, auth=False, artifacts_uri=artifacts)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def bench_feed(url: str, run_id: str, repeat: int) -> None:
    import httpx

    from ductwork.server.services import layout

    times = []
    size = 0
    for _ in range(repeat):
        layout._cache.clear()
        t0 = time.perf_counter()
        response = httpx.get(f"{url}/runs/{run_id}/layout.json", timeout=60)
        times.append((time.perf_counter() - t0) * 1000)
        size = len(response.content)
    name = "layout.json feed (store + layout + JSON)"
    print(f"{name:<52} {statistics.median(times):8.1f} ms   {size / 1e6:.1f} MB")


def bench_browser(url: str, run_id: str, names: list[str], task_id: str, repeat: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        first, apply, paint = [], [], []
        for _ in range(repeat):
            page.goto(f"{url}/runs/{run_id}")
            page.wait_for_function("() => window.__dag && window.__dag.firstDraw > 0", timeout=60_000)
            first.append(page.evaluate("window.__dag.firstDraw"))
            for status in ("completed", "failed"):
                timing = page.evaluate(
                    """([names, status]) => new Promise((done) => {
                        const now = Date.now() / 1000;
                        const payload = {names, status: names.map(() => status),
                          started: names.map(() => now - 5), ended: names.map(() => now),
                          task: names.map(() => null)};
                        const t0 = performance.now();
                        const changed = window.__dag.applyStates(payload);
                        const t1 = performance.now();
                        requestAnimationFrame(() => requestAnimationFrame(() => done({
                          changed, apply: t1 - t0, draw: window.__dag.lastDrawMs})));
                    })""",
                    [names, status],
                )
                assert timing["changed"] == len(names), timing
                apply.append(timing["apply"])
                paint.append(timing["apply"] + timing["draw"])
        report(f"run page first full draw ({len(names):,} steps)", statistics.median(first), 1000)
        report(f"status update of all {len(names):,} steps: apply", statistics.median(apply), 100)
        report(f"status update of all {len(names):,} steps: apply+paint", statistics.median(paint), 100)

        drawn = []
        for _ in range(repeat):
            page.goto(f"{url}/tasks/{task_id}?tab=scalars")
            page.wait_for_selector(".charts .u-wrap canvas", timeout=60_000)
            drawn.append(page.evaluate("performance.now()"))
        report("100k-point scalar page: navigation to drawn chart", statistics.median(drawn), 1000)
        bench_push(page, url, run_id, names[:40])
        browser.close()


def bench_push_only(url: str, run_id: str, names: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        bench_push(page, url, run_id, names[:40])
        browser.close()


ARRIVALS = """() => {
  window.__arrivals = {};
  window.__dag.source.addEventListener("node", (ev) => {
    const node = JSON.parse(ev.data);
    window.__arrivals[`${node.name}:${node.status}`] = Date.now() / 1000;
  });
}"""


def bench_push(page: Any, url: str, run_id: str, names: list[str]) -> None:
    """Write one step's status, then wait for the open run page's stream to deliver it."""
    from ductwork.client.http import HttpBackend
    from ductwork.core.records import NodeState
    from ductwork.store import Store

    page.goto(f"{url}/runs/{run_id}")
    page.wait_for_function(
        "() => window.__dag && window.__dag.source && window.__dag.source.readyState === 1"
    )
    page.evaluate(ARRIVALS)
    api = HttpBackend(url, "")
    other = Store(STORE_URL[0])
    floor = []
    for _ in range(len(names)):
        floor.append(
            page.evaluate(
                "async () => { const t = performance.now(); await fetch('/api/health');"
                " return performance.now() - t; }"
            )
        )
    for label, write in (
        ("through the server's API", api.put_nodes),
        ("by another store connection", other.put_nodes),
    ):
        delays = []
        for round_, name in enumerate(names):
            status = f"{'completed' if round_ % 2 else 'failed'}"
            time.sleep(0.05)  # one change at a time, as a run makes them
            page.evaluate("() => { window.__arrivals = {}; }")
            started = time.time()
            write([NodeState(run_id=run_id, name=name, status=status, started=started - 1, ended=started)])
            key = f"{name}:{status}"
            page.wait_for_function("(key) => window.__arrivals[key] !== undefined", arg=key, timeout=10_000)
            delays.append((page.evaluate("(key) => window.__arrivals[key]", key) - started) * 1000)
        report(
            f"status change pushed to the run page, {label} (p50)",
            statistics.median(delays),
            100,
            statistics.median(floor),
        )
        print(f"{'  p90':<52} {sorted(delays)[int(0.9 * len(delays))]:8.1f} ms")
    other.close()
    api.close()


def bench_scalars(store: Any, url: str, points: int, repeat: int) -> str:
    import httpx

    from ductwork.core.records import MetricEvent, TaskRecord

    task = store.create_task(TaskRecord(name="long training"))
    batch = [
        MetricEvent(
            task_id=task.id, kind="scalar", title="loss", series="train", iteration=i, value=1 / (1 + i)
        )
        for i in range(points)
    ]
    store.add_events(batch)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        body = httpx.get(f"{url}/tasks/{task.id}/scalars.json", timeout=60).json()
        times.append((time.perf_counter() - t0) * 1000)
    served = len(body[0]["series"][0]["y"])
    from ductwork.core.queries import EventQuery
    from ductwork.server.services.layout import collector_paused

    floors = []
    for _ in range(repeat):
        with collector_paused():  # as the endpoint reads
            t0 = time.perf_counter()
            store.get_events(EventQuery(task.id, kind="scalar"))
            floors.append((time.perf_counter() - t0) * 1000)
    floor = statistics.median(floors)
    report(f"{points:,}-point scalars served as {served:,} points", statistics.median(times), 500, floor)
    print("  (floor: reading the same events from the store, nothing else)")
    return str(task.id)


STORE_URL: list[str] = []  # the benchmark's store, for a second connection to it


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--push-only", action="store_true", help="only the pushed status change")
    options = parser.parse_args()

    from ductwork.store import Store

    with tempfile.TemporaryDirectory() as home:
        STORE_URL.append(f"sqlite:///{Path(home) / 'ductwork.db'}")
        store = Store(STORE_URL[0])
        run_id, parents = write_run(store, options.steps)
        print(f"ductwork web UI benchmark: {len(parents):,} steps, {options.points:,} scalar points")
        if not options.push_only:
            bench_layout(parents, options.repeat)
        url, server = start_server(store, str(Path(home) / "artifacts"))
        try:
            if options.push_only:
                bench_push_only(url, run_id, list(parents))
            else:
                bench_feed(url, run_id, options.repeat)
                task_id = bench_scalars(store, url, options.points, options.repeat)
                bench_browser(url, run_id, list(parents), task_id, options.repeat)
        finally:
            server.should_exit = True
            store.close()


if __name__ == "__main__":
    sys.exit(main())
