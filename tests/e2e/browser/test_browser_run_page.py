"""The run page in real Chromium: live DAG colours, step details, NEW RUN, abort, screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from browser_helpers import GatedRun, Server, screenshot
from web_runs import make_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The canvas draws each status in its CSS colour (app.css); these are the ones the tests watch.
RGB = {
    "pending": (0x98, 0xA2, 0xB3),
    "running": (0x2F, 0x6F, 0xED),
    "completed": (0x1A, 0x9A, 0x55),
    "aborted": (0xE0, 0x8A, 0x00),
}

# The colour of a step's status strip, read back from the canvas pixels.
STRIP_PIXEL = """(name) => {
  const d = window.__dag.dag, v = window.__dag.view;
  const b = d.keys.indexOf(name);
  if (b < 0) return null;
  const x = (d.x[b] + 2.5) * v.scale + v.tx, y = (d.y[b] + d.h[b] / 2) * v.scale + v.ty;
  const px = document.getElementById("dag").getContext("2d")
    .getImageData(Math.round(x * v.dpr), Math.round(y * v.dpr), 1, 1).data;
  return [px[0], px[1], px[2]];
}"""


def wait_for_colour(page: Any, step: str, status: str, timeout: float = 20.0) -> None:
    want = RGB[status]
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = page.evaluate(STRIP_PIXEL, step)
        if seen and all(abs(a - b) <= 6 for a, b in zip(seen, want, strict=True)):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"step {step!r} is drawn {seen}, not {status} {want}")


def _ended(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def open_run(page: Any, server: Server, run_id: str) -> None:
    page.goto(f"{server.url}/runs/{run_id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")


def click_step(page: Any, step: str) -> None:
    point = page.evaluate(
        """(name) => {
          const d = window.__dag.dag, v = window.__dag.view;
          const r = document.getElementById("dag").getBoundingClientRect();
          const b = d.keys.indexOf(name);
          const x = (d.x[b] + d.w / 2) * v.scale + v.tx, y = (d.y[b] + d.h[b] / 2) * v.scale + v.ty;
          return [r.left + x, r.top + y];
        }""",
        step,
    )
    page.mouse.click(point[0], point[1])


def test_dag_colours_follow_a_live_pipeline_without_reloading(
    page: Any, server: Server, gated_run: Callable[[], GatedRun]
) -> None:
    run = gated_run()
    open_run(page, server, run.run_id)
    page.evaluate("window.__loaded = performance.timeOrigin")
    wait_for_colour(page, "prepare", "running")
    wait_for_colour(page, "train", "pending")

    run.open("prepare")
    wait_for_colour(page, "prepare", "completed")
    wait_for_colour(page, "train", "running")
    wait_for_colour(page, "evaluate", "running")
    run.open("train")
    wait_for_colour(page, "train", "completed")
    # The steps list and the legend follow too, and the page never reloaded.
    assert page.locator("#legend [data-status=completed] b").inner_text() == "2"
    assert page.evaluate("window.__loaded") == page.evaluate("performance.timeOrigin")
    screenshot(page, "run-page-small.png")

    for step in ("evaluate", "report"):
        run.open(step)
    wait_for_colour(page, "report", "completed")
    page.wait_for_selector("#run-status.status-completed", timeout=20_000)
    run.process.wait(timeout=20)


def test_clicking_a_node_opens_its_step_info(
    page: Any, server: Server, gated_run: Callable[[], GatedRun]
) -> None:
    run = gated_run()
    open_run(page, server, run.run_id)
    page.wait_for_selector("#info .eyebrow:has-text('Run info')")
    assert "x" in page.locator("#info").inner_text()  # the run's arguments

    wait_for_colour(page, "prepare", "running")
    click_step(page, "prepare")
    page.wait_for_selector("#info h2:text-is('prepare')")
    info = page.locator("#info")
    assert "step info" in info.inner_text().lower()
    assert "running" in info.locator(".meta").inner_text().lower()
    assert "kwargs" in info.inner_text().lower()  # its parameters
    info.locator("button.tab[data-tab=code]").click()
    assert "def wait_for_gate" in info.locator("[data-panel=code]").inner_text()
    info.locator("button.tab[data-tab=console]").click()
    page.wait_for_selector("#info .console .line:has-text('step prepare waiting, x=1')")
    run.open("prepare")
    page.wait_for_selector("#info .console .line:has-text('step prepare done')", timeout=20_000)
    # The open panel follows its step: the badge turns completed, the console tab stays open.
    page.wait_for_selector("#info .info-head .status-completed", timeout=20_000)
    assert page.locator("#info [data-panel=console]").is_visible()

    # The steps list selects too; a step that had no task yet shows its task once it starts.
    page.locator("#steps-list .vrow:has-text('report')").click()
    page.wait_for_selector("#info h2:text-is('report')")
    assert "has not started a task yet" in page.locator("#info").inner_text()
    for step in ("train", "evaluate"):
        run.open(step)
    page.wait_for_selector("#info button.tab[data-tab=code]", timeout=20_000)
    assert page.locator("#info h2").inner_text() == "report"
    page.locator("#steps-list .vrow:has-text('evaluate')").click()
    page.wait_for_selector("#info h2:text-is('evaluate')")
    page.locator("#info [data-back]").click()
    page.wait_for_selector("#info .eyebrow:has-text('Run info')")


def test_new_run_starts_a_run_with_the_edited_argument(
    page: Any, server: Server, gated_run: Callable[[], GatedRun]
) -> None:
    server.store.ensure_queue("services")
    run = gated_run()
    for step in ("prepare", "train", "evaluate", "report"):
        run.open(step)
    run.process.wait(timeout=30)
    open_run(page, server, run.run_id)

    page.get_by_role("button", name="+ New run").click()
    dialog = page.locator("#modal form.modal")
    dialog.wait_for()
    assert dialog.locator("input[name='arg:x']").input_value() == "1"
    dialog.locator("input[name='arg:x']").fill("not a number")
    dialog.get_by_role("button", name="Run").click()
    page.wait_for_selector("#modal .field-error:has-text('is not a whole number')")

    page.locator("#modal input[name='arg:x']").fill("41")
    page.locator("#modal input[name='arg:label']").fill("second")
    page.locator("#modal").get_by_role("button", name="Run").click()
    page.wait_for_url(lambda url: "/runs/" in url and run.run_id not in url)
    new_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    assert page.locator("h1").inner_text().startswith("gated #2")
    assert "No agent is listening on queue 'services'" in page.locator(".banner").inner_text()

    params = server.store.get_parameters(new_id)
    assert params["Args/x"].value == 41 and params["Args/label"].value == "second"
    assert server.store.get_task(new_id).status == "queued"

    # An agent on the queue runs it; the page follows it to the end, the steps got the new value.
    agent = subprocess.Popen(
        [sys.executable, "-m", "ductwork.agent", "--queue", "services", "--same-env", "--max-tasks", "1"],
        env=dict(os.environ, DUCTWORK_HOME=str(server.home), GATES=str(run.gates)),
    )
    try:
        page.wait_for_selector("#run-status.status-completed", timeout=90_000)
        wait_for_colour(page, "report", "completed")
        click_step(page, "prepare")
        page.wait_for_selector("#info h2:text-is('prepare')")
        page.locator("#info button.tab[data-tab=console]").click()
        page.wait_for_selector("#info .console .line:has-text('step prepare waiting, x=41')")
    finally:
        if not _ended(agent, 30):  # --max-tasks 1: it leaves once the run is done
            agent.kill()
            agent.wait()


def test_abort_stops_the_run_and_its_unfinished_steps(
    page: Any, server: Server, gated_run: Callable[[], GatedRun]
) -> None:
    run = gated_run()
    open_run(page, server, run.run_id)
    wait_for_colour(page, "prepare", "running")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".run-head [data-action=abort]").click()
    page.wait_for_selector("#run-status.status-aborted", timeout=20_000)
    wait_for_colour(page, "prepare", "aborted")
    assert server.store.get_task(run.run_id).status == "stopped"
    assert {n.name: n.status for n in server.store.get_nodes(run.run_id)}["prepare"] == "aborted"
    assert page.locator(".run-head [data-action=continue]").is_visible()

    # Continue needs the run's queue: without it the page says why, then it goes on once it exists.
    page.locator(".run-head [data-action=continue]").click()
    page.wait_for_selector(".toast:has-text('services')")
    server.store.ensure_queue("services")
    page.locator(".run-head [data-action=continue]").click()
    page.wait_for_selector("#run-status.status-pending", timeout=20_000)
    assert server.store.get_task(run.run_id).status == "queued"


def test_large_run_is_grouped_and_readable(page: Any, server: Server) -> None:
    """2,000 steps: ten datasets, each a download, a 196-way shard fan-out, merge, train, evaluate."""
    parents: dict[str, list[str]] = {}
    states: dict[str, str] = {}
    for d in range(10):
        parents[f"download_{d}"] = []
        shards = [f"shard_{d}_{i}" for i in range(196)]
        parents.update({s: [f"download_{d}"] for s in shards})
        parents[f"merge_{d}"] = shards
        parents[f"train_{d}"] = [f"merge_{d}"]
        parents[f"evaluate_{d}"] = [f"train_{d}"]
        states[f"download_{d}"] = "completed"
        done = 196 if d < 4 else 196 * (9 - d) // 6
        for i, s in enumerate(shards):
            states[s] = "completed" if i < done else ("running" if i < done + 12 else "queued")
        if d < 4:
            states[f"merge_{d}"] = "completed"
            states[f"train_{d}"] = "completed" if d < 2 else "running"
            if d < 2:
                states[f"evaluate_{d}"] = "completed" if d == 0 else "failed"
    parents["compare"] = [f"evaluate_{d}" for d in range(10)]
    run = make_run(server.store, parents, project="vision", pipeline="shards", states=states)
    assert len(parents) == 2001

    open_run(page, server, run.id)
    assert page.evaluate("window.__dag.dag.n") == 10 * 5 + 1
    assert page.evaluate("window.__dag.dag.names.length") == 2001
    page.wait_for_timeout(200)
    screenshot(page, "run-page-2000-steps.png")
    # The steps list is virtual: it holds a screenful of rows, not 2,001.
    assert page.locator("#steps-list .vrow").count() < 60
    page.fill("#step-search", "shard_3_19")
    page.wait_for_selector("#steps-list .vrow:not([hidden]):has-text('shard_3_195')")


def test_run_info_refreshes_while_the_run_is_live(page: Any, server: Server) -> None:
    from ductwork.core.records import MetricEvent

    run = make_run(server.store, {"only": []}, states={"only": "running"})
    page.clock.install()
    open_run(page, server, run.id)
    page.wait_for_selector("#run-summary")
    assert "No metrics reported" in page.locator("#run-summary").inner_text()
    server.store.add_events([MetricEvent(task_id=run.id, kind="single", title="rows seen", value=1234.0)])
    page.clock.fast_forward(11_000)
    page.wait_for_selector("#run-summary:has-text('rows seen')", timeout=10_000)
    assert page.locator("#info .console").count() == 1  # the console was not rebuilt
