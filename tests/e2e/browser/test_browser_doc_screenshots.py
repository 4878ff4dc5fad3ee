"""The screenshots of the README and the docs, made from a real run so they never go stale.

`ductwork demo`'s pipeline (load, split, three trainings at once, pick the best) runs in local
mode, a process per step, twice (the second run takes its first step from the cache), on the
home `ductwork ui` serves; Chromium then opens the pipeline's runs and the latest run's page,
clicks a training step and photographs the pages as a user sees them. The PNGs are written into
docs/images/ (committed: the README and the site show them); tests/docs/test_site.py fails when
an image a page names is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGES = Path(__file__).parents[3] / "docs" / "images"
PNG = b"\x89PNG\r\n\x1a\n"


def _run_demo_pipeline(server: Server, folder: Path, times: int) -> list[Any]:
    """The demo pipeline, `times` times, each as its own process on the server's home; answers
    the runs (controller tasks), newest first."""
    from ductwork.core.queries import TaskQuery

    env = dict(os.environ, DUCTWORK_HOME=str(server.home))
    for name in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL", "DUCTWORK_API_KEY", "DUCTWORK_TASK_ID"):
        env.pop(name, None)
    code = "from ductwork.demo_pipeline import run; print(run('local'))"
    for _ in range(times):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
    runs = server.store.query_tasks(TaskQuery(type=["controller"], archived=None))
    assert len(runs) == times and all(run.status == "completed" for run in runs), runs
    return sorted(runs, key=lambda run: run.created, reverse=True)


def _click_step(page: Any, prefix: str) -> str:
    """Click the first step whose name starts with `prefix`; answers its name."""
    name, x, y = page.evaluate(
        """(prefix) => {
          const d = window.__dag.dag, v = window.__dag.view;
          const r = document.getElementById("dag").getBoundingClientRect();
          const b = d.keys.findIndex((k) => k.startsWith(prefix));
          const x = (d.x[b] + d.w / 2) * v.scale + v.tx, y = (d.y[b] + d.h[b] / 2) * v.scale + v.ty;
          return [d.keys[b], r.left + x, r.top + y];
        }""",
        prefix,
    )
    page.mouse.click(x, y)
    page.wait_for_selector(f"#info h2:text-is('{name}')")
    return str(name)


def _changed_share(old: Path, new: bytes) -> float:
    """The share of pixels that differ visibly between the committed image and a new one."""
    import io

    from PIL import Image, ImageChops

    with Image.open(old) as before, Image.open(io.BytesIO(new)) as after:
        if before.size != after.size:
            return 1.0
        diff = ImageChops.difference(before.convert("RGB"), after.convert("RGB")).convert("L")
        changed = diff.point(lambda v: 255 if v > 24 else 0).histogram()[255]
        return changed / (after.width * after.height)


def _save(page: Any, name: str) -> Path:
    """Written whole, then renamed over the committed one: tests/docs reading (or mkdocs copying)
    docs/images at the same moment never sees half a file. A shot that differs from the committed
    one in under 0.05% of its pixels (a duration, 0.0s for 0.1s: about 0.02%; a step drawn cached
    instead of completed changes about 0.2%) keeps the committed file, so running the
    tests does not leave the checkout changed unless the page really changed."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    data = page.screenshot()
    assert data.startswith(PNG) and len(data) > 20_000, f"{name}: {len(data)} bytes"
    if path.exists() and _changed_share(path, data) < 0.0005:
        return path
    partial = path.with_name(f".{name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return path


def test_run_page_screenshots_from_a_real_demo_run(page: Any, server: Server, tmp_path: Path) -> None:
    # Twice, as a user trying it would: the second run takes `load` from the cache.
    latest, first = _run_demo_pipeline(server, tmp_path, times=2)

    # The pipeline's runs, with their arguments and last metrics as columns.
    page.goto(f"{server.url}/pipelines/{latest.project}")
    page.wait_for_selector(f"tr[data-run='{latest.id}']")
    assert page.locator(f"tr[data-run='{first.id}']").count() == 1
    _save(page, "pipeline-runs.png")

    page.goto(f"{server.url}/runs/{latest.id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    page.wait_for_selector("#run-status.status-completed")
    keys = page.evaluate("window.__dag.dag.keys")
    assert {"load", "split", "pick"} <= set(keys) and sum(k.startswith("fit") for k in keys) == 3, keys
    assert page.locator("#legend [data-status=cached] b").inner_text() == "1"  # load

    # The DAG and a training step's details (its parameters, metrics, artifacts).
    step = _click_step(page, "fit")
    info = page.locator("#info")
    assert "step info" in info.inner_text().lower()
    assert "completed" in info.locator(".meta").inner_text().lower()
    page.wait_for_timeout(300)  # the DAG's highlight of the chosen node is drawn on the next frame
    _save(page, "run-page.png")

    # The same step's scalars: its loss curve, drawn by the page's charts.
    info.locator("button.tab[data-tab=charts]").click()
    panel = info.locator("[data-panel=charts]")
    panel.locator("[data-charts]").first.locator("canvas").first.wait_for(timeout=20_000)  # the step's own
    assert "loss" in panel.inner_text(), f"{step}'s scalars do not show its loss: {panel.inner_text()!r}"
    page.click("#zoom-fit")  # the charts widen the info pane: fit the whole DAG in what is left
    page.wait_for_timeout(300)
    _save(page, "step-scalars.png")
