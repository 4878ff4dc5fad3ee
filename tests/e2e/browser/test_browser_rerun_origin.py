"""NEW RUN from the UI rebuilds a pipeline whatever started it, or says why it cannot.

`ductwork demo` starts its pipeline from the CLI, an installed program: running that program
again would not rebuild the pipeline (it used to end in "cannot be its own parent" with every
step left pending). Its controller now records the pipeline function by module and name, so a
NEW RUN with an edited argument runs all of its steps on an agent. A pipeline whose function no
other process can import (defined in `python -c`) gets no NEW RUN, and the page says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from browser_helpers import Server
from tests.pipelines.test_rerun_origin import INLINE_PIPELINE

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _run(server: Server, *argv: str) -> None:
    env = dict(os.environ, DUCTWORK_HOME=str(server.home))
    done = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


def _only_run(server: Server, name: str) -> Any:
    from ductwork.core.queries import TaskQuery

    runs = [
        t for t in server.store.query_tasks(TaskQuery(type=["controller"], archived=None)) if t.name == name
    ]
    assert len(runs) == 1, runs
    return runs[0]


def test_new_run_of_the_demo_pipeline_runs_every_step_with_the_new_argument(
    page: Any, server: Server
) -> None:
    _run(server, "-m", "ductwork", "demo", "--no-ui")
    first = _only_run(server, "model search")
    page.goto(f"{server.url}/runs/{first.id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    assert page.locator(".rerun-refusal").count() == 0

    page.get_by_role("button", name="+ New run").click()
    dialog = page.locator("#modal form.modal")
    dialog.wait_for()
    assert dialog.locator("input[name='arg:rows']").input_value() == "400"
    dialog.locator("input[name='arg:rows']").fill("120")
    dialog.get_by_role("button", name="Run").click()
    page.wait_for_url(lambda url: "/runs/" in url and first.id not in url)
    new_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert server.store.get_task(new_id).status == "queued"

    agent = subprocess.Popen(
        [sys.executable, "-m", "ductwork.agent", "--queue", "services", "--same-env", "--max-tasks", "1"],
        env=dict(os.environ, DUCTWORK_HOME=str(server.home)),
    )
    try:
        page.wait_for_selector("#run-status.status-completed", timeout=120_000)
    finally:
        try:
            agent.wait(timeout=30)  # --max-tasks 1: it leaves once the run is done
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    nodes = {n.name: n for n in server.store.get_nodes(new_id)}
    assert sorted(nodes) == ["fit", "fit_1", "fit_2", "load", "pick", "split"]
    assert {n.status for n in nodes.values()} == {"completed"}, {k: n.status for k, n in nodes.items()}
    load = server.store.get_parameters(nodes["load"].task_id)
    assert load["kwargs/rows"].value == 120  # the edited argument reached the step


def test_a_pipeline_defined_in_python_c_offers_no_new_run_and_says_why(page: Any, server: Server) -> None:
    _run(server, "-c", INLINE_PIPELINE)
    run = _only_run(server, "inline")
    page.goto(f"{server.url}/runs/{run.id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    button = page.get_by_role("button", name="+ New run")
    assert button.is_disabled()
    note = page.locator(".rerun-refusal").inner_text()
    assert "cannot be run again" in note and "'inline'" in note and "__main__" in note

    # The modal (reached from the pipeline page's button) says the same and cannot submit.
    page.goto(f"{server.url}/runs/{run.id}/new")
    assert "cannot be run again" in page.locator(".form-error").inner_text()
    assert page.get_by_role("button", name="Run").is_disabled()
