"""Runs table actions, comparing runs, fan-out groups and a DAG that grows while it is watched."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from browser_helpers import GatedRun, Server, TeamServer
from web_runs import make_run, set_states

from ductwork.core.records import ConfigObject, MetricEvent, NodeState, Param

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DIAMOND = {
    "load": [],
    "clean": ["load"],
    "train": ["clean"],
    "score": ["clean"],
    "report": ["train", "score"],
}


def test_runs_table_tags_archives_and_compares_runs(page: Any, server: Server) -> None:
    first = make_run(
        server.store, DIAMOND, name="etl #1", status="completed", args={"lr": Param(0.1, "float")}
    )
    second = make_run(
        server.store, DIAMOND, name="etl #2", status="completed", args={"lr": Param(0.3, "float")}
    )
    for run, value in ((first, 0.7), (second, 0.9)):
        server.store.add_events(
            [
                MetricEvent(
                    task_id=run.id, kind="scalar", title="acc", series="val", iteration=i, value=value
                )
                for i in range(3)
            ]
        )
    page.goto(f"{server.url}/pipelines")
    page.get_by_role("link", name="etl").click()
    page.wait_for_selector(f"tr[data-run='{first.id}']")

    row = page.locator(f"tr[data-run='{first.id}']")
    row.locator("summary").click()
    page.once("dialog", lambda dialog: dialog.accept("baseline"))
    row.locator("[data-action=tag]").click()
    page.wait_for_selector(f"tr[data-run='{first.id}'] .tag:text-is('baseline')")
    assert server.store.get_task(first.id).tags == ["baseline"]

    page.locator(f"tr[data-run='{second.id}'] summary").click()
    page.locator(f"tr[data-run='{second.id}'] [data-action=archive]").click()
    page.wait_for_selector(f"tr[data-run='{second.id}']", state="detached")
    assert server.store.get_task(second.id).archived
    page.locator("#runs-filter input[name=archived]").check()
    page.wait_for_selector(f"tr[data-run='{second.id}']")
    page.locator(f"tr[data-run='{second.id}'] summary").click()
    page.locator(f"tr[data-run='{second.id}'] [data-action=restore]").click()
    page.wait_for_selector(f"tr[data-run='{second.id}']", state="detached")
    page.locator("#runs-filter input[name=archived]").uncheck()

    page.wait_for_selector(f"tr[data-run='{second.id}']")
    compare = page.locator("#compare-btn")
    assert compare.is_disabled()
    page.locator(f"tr[data-run='{first.id}'] input[name=run]").check()
    page.locator(f"tr[data-run='{second.id}'] input[name=run]").check()
    compare.click()
    page.wait_for_url("**/compare?**")
    page.wait_for_selector("#compare-charts .u-wrap canvas")
    assert "Args/lr" in page.locator("#param-diff").inner_text()
    assert page.locator("#compare-charts .u-legend").inner_text().count("val") == 2

    # Clone as draft: a new run with the same arguments, opened on its page.
    page.go_back()
    page.locator(f"tr[data-run='{first.id}'] summary").click()
    page.locator(f"tr[data-run='{first.id}'] [data-action=clone]").click()
    page.wait_for_url(lambda url: "/runs/" in url and first.id not in url)
    page.wait_for_selector("#run-status.status-draft")
    clone_id = page.url.rsplit("/", 1)[1]
    assert server.store.get_parameters(clone_id)["Args/lr"].value == 0.1


def test_clicking_a_fan_out_group_shows_its_counts_and_members(page: Any, server: Server) -> None:
    parents: dict[str, list[str]] = {"split": []}
    shards = [f"shard_{i}" for i in range(40)]
    parents.update({s: ["split"] for s in shards})
    parents["merge"] = shards
    states = (
        {"split": "completed"} | {s: "completed" for s in shards[:30]} | {s: "failed" for s in shards[30:32]}
    )
    run = make_run(server.store, parents, states=states)
    page.goto(f"{server.url}/runs/{run.id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    box = page.evaluate(
        """() => {
          const d = window.__dag.dag, v = window.__dag.view;
          const r = document.getElementById("dag").getBoundingClientRect();
          const b = d.keys.findIndex((k) => k.startsWith("group:"));
          const x = (d.x[b] + d.w / 2) * v.scale + v.tx, y = (d.y[b] + d.h[b] / 2) * v.scale + v.ty;
          return [r.left + x, r.top + y];
        }"""
    )
    page.mouse.click(box[0], box[1])
    page.wait_for_selector("#info h2:text-is('shard x40')")
    counts = page.locator("#info table.kv").inner_text()
    assert "completed\t30" in counts and "failed\t2" in counts and "pending\t8" in counts
    assert page.locator("#step-search").input_value() == "shard"
    page.fill("#step-search", "shard_31")
    page.locator("#steps-list .vrow:not([hidden]):has-text('shard_31')").click()
    page.wait_for_selector("#info h2:text-is('shard_31')")

    # Ungrouped, every shard has its own box (with its own colour); grouped again, one box.
    assert page.evaluate("window.__dag.dag.n") == 3
    page.get_by_role("button", name="Show every step").click()
    page.wait_for_function("() => window.__dag.dag.n === 42")
    status = page.evaluate("(d => d.boxStatus[d.keys.indexOf('shard_31')])(window.__dag.dag)")
    assert status == 4  # failed
    page.get_by_role("button", name="Group fan-outs").click()
    page.wait_for_function("() => window.__dag.dag.n === 3")


def test_steps_added_during_a_run_appear_without_reloading(page: Any, server: Server) -> None:
    run = make_run(server.store, {"first": []}, states={"first": "running"})
    page.goto(f"{server.url}/runs/{run.id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    page.evaluate("window.__loaded = performance.timeOrigin")
    assert page.evaluate("window.__dag.dag.keys") == ["first"]

    # A decorator pipeline records a component when the pipeline function calls it.
    dag = {
        "first": {"parents": [], "status": "completed"},
        "second": {"parents": ["first"], "status": "running"},
    }
    server.store.set_configuration(run.id, "Pipeline", ConfigObject(text=json.dumps(dag), type="json"))
    set_states(server.store, run, {"first": "completed"})
    server.store.put_nodes([NodeState(run_id=run.id, name="second", status="running", started=time.time())])

    page.wait_for_function("() => window.__dag.dag.keys.length === 2", timeout=20_000)
    assert page.evaluate("window.__dag.dag.keys") == ["first", "second"]
    page.wait_for_selector("#steps-list .vrow:has-text('second')")
    assert page.locator("#legend [data-status=running] b").inner_text() == "1"
    assert page.evaluate("window.__loaded") == page.evaluate("performance.timeOrigin")


def test_a_browser_must_log_in_and_then_sees_live_pages(
    page: Any, team_server: TeamServer, team_gated_run: Callable[[], GatedRun]
) -> None:
    """The team server on its own machine; the run is a pipeline on alice's laptop."""
    server = team_server
    run = team_gated_run()  # `prepare` is running, waiting for its gate
    page.goto(f"{server.url}/runs/{run.run_id}")
    page.wait_for_url("**/login?next=*")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not the password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector(".form-error:has-text('Wrong user name or password')")

    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", server.server.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/runs/{run.run_id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    # The event stream is open with the session cookie, and carries the change live.
    page.wait_for_function("() => window.__dag.source && window.__dag.source.readyState === 1")
    assert page.evaluate("window.__dag.dag.keys[0]") == "prepare"
    run.open("prepare")
    page.wait_for_function("() => window.__dag.dag.status[0] === 3", timeout=20_000)  # 3: completed

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto(f"{server.url}/pipelines")
    page.wait_for_url("**/login?next=*")


def test_run_page_menu_tags_and_archives_the_run(page: Any, server: Server) -> None:
    run = make_run(server.store, DIAMOND, status="completed")
    page.goto(f"{server.url}/runs/{run.id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    page.get_by_label("More actions").click()
    page.once("dialog", lambda dialog: dialog.accept("golden"))
    page.locator(".run-head [data-action=tag]").click()
    page.wait_for_selector(".run-head h1 .tag:text-is('golden')")
    page.get_by_label("More actions").click()
    page.locator(".run-head [data-action=archive]").click()
    page.wait_for_selector(".run-head h1 .version:text-is('archived')")
    task = server.store.get_task(run.id)
    assert task.tags == ["golden"] and task.archived
