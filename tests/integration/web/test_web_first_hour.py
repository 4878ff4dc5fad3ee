"""The web UI's issue-16 fixes over a real store (SQLite and PostgreSQL), through the ASGI app:
status words from the CLI's table, `${step.output}` inputs, step metrics in compare, deleting a
run (not its clones), and model downloads with a login session."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from web_runs import make_run

from ductwork.core.display import STATUS_WORDS
from ductwork.core.errors import NotFound
from ductwork.core.records import ConsoleLine, MetricEvent, ModelRecord, Param, TaskModel, TaskRecord


def test_tasks_read_in_the_clis_status_words(web: TestClient, store: Any) -> None:
    running = store.create_task(TaskRecord(name="busy one"))
    store.set_status(running.id, "in_progress", force=True)
    done = store.create_task(TaskRecord(name="shipped one"))
    store.set_status(done.id, "in_progress", force=True)
    store.set_status(done.id, "completed", force=True)
    store.set_status(done.id, "published", force=True)
    page = web.get("/tasks").text
    assert ">running<" in page and ">completed<" in page
    assert "in progress" not in page and ">published<" not in page
    # The filter takes the word (and both stored statuses behind "completed").
    only = web.get("/tasks", params={"status": "completed"}, headers={"HX-Request": "true"}).text
    assert "shipped one" in only and "busy one" not in only
    only = web.get("/tasks", params={"status": "running"}, headers={"HX-Request": "true"}).text
    assert "busy one" in only and "shipped one" not in only
    task_page = web.get(f"/tasks/{running.id}").text
    assert ">running</span></h1>" in task_page
    # The scripts read the same table from the page.
    found = re.search(r"<meta name=\"status-words\" content='([^']*)'>", task_page)
    assert found and json.loads(html.unescape(found.group(1))) == STATUS_WORDS


def test_step_inputs_read_as_written(web: TestClient, store: Any) -> None:
    run = make_run(store, {"load": [], "train": ["load"]}, states={"load": "completed", "train": "running"})
    load, train = run.steps["load"], run.steps["train"]
    elsewhere = store.create_task(TaskRecord(name="old load"))
    store.set_parameters(
        train,
        {
            "kwargs/points": Param({"$ref": f"{load}.points"}, "dict"),
            "kwargs/nested": Param({"a": [{"$ref": f"{load}.rows"}]}, "dict"),
            "kwargs/text": Param(f"run {{'$ref': '{load}.points'}} now", "str"),
            "kwargs/cached": Param({"$ref": f"{elsewhere.id}.points"}, "dict"),
            "kwargs/gone": Param({"$ref": "0" * 32 + ".points"}, "dict"),
            "kwargs_artifacts/points": Param(f"{load}.points", "str"),
        },
    )
    text = html.unescape(web.get(f"/runs/{run.id}/steps/train").text)
    assert "<code>${load.points}</code>" in text
    assert '{"a": ["${load.rows}"]}' in text
    assert "<code>run ${load.points} now</code>" in text
    assert "<code>${old load.points}</code>" in text  # a task of no step here: its own name
    assert '{"$ref": "' + "0" * 32 + '.points"}' in text  # unknown: as stored
    assert f'href="/tasks/{load}" data-step="load"' in text
    assert f'href="/tasks/{elsewhere.id}" title' in text  # not a step of this run: no data-step


def test_compare_has_each_steps_last_metrics(web: TestClient, store: Any) -> None:
    from ductwork.server.services import views

    runs = [
        make_run(store, {"load": [], "train": ["load"]}, states={"load": "completed", "train": "completed"})
        for _ in range(2)
    ]
    for i, run in enumerate(runs):
        store.add_events(
            [
                MetricEvent(
                    task_id=run.steps["train"], kind="scalar", title="loss", series="val", value=0.5 + i
                ),
                MetricEvent(task_id=run.steps["load"], kind="single", title="rows", value=10.0),
            ]
        )
    comparison = views.compare(store, [r.id for r in runs])
    assert comparison.step_metrics == [
        ("load", "rows", [10.0, 10.0], False),
        ("train", "loss/val", [0.5, 1.5], True),
    ]
    page = web.get("/compare", params={"ids": [r.id for r in runs]}).text
    assert 'id="step-metrics"' in page and "loss/val" in page


def test_delete_run_removes_its_tasks_not_its_clones(web: TestClient, store: Any) -> None:
    run = make_run(
        store,
        {"load": [], "train": ["load"]},
        states={"load": "completed", "train": "completed"},
        status="completed",
    )
    train = run.steps["train"]
    store.add_console([ConsoleLine(task_id=train, text="epoch 1")])
    store.add_events([MetricEvent(task_id=train, kind="scalar", title="loss", value=0.1)])
    clone = store.clone_task(run.id)  # "Clone as draft": a run of its own whose parent is this one
    assert clone.parent == run.id
    answer = web.delete(
        f"/api/runs/{run.id}", headers={"Accept": "application/json", "Origin": "http://testserver"}
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["deleted"]) == {run.id, *[t for t in run.steps.values() if t]}
    for task_id in (run.id, train):
        with pytest.raises(NotFound):
            store.get_task(task_id)
    try:
        nodes = store.get_nodes(run.id)
    except NotFound:
        nodes = []
    assert nodes == []
    assert store.get_task(clone.id).id == clone.id
    # the run page of a deleted run says so
    assert web.get(f"/runs/{run.id}").status_code == 404


def test_delete_run_refuses_a_running_run_and_a_plain_task(web: TestClient, store: Any) -> None:
    run = make_run(store, {"load": []}, states={"load": "running"})
    headers = {"Accept": "application/json", "Origin": "http://testserver"}
    refused = web.delete(f"/api/runs/{run.id}", headers=headers)
    assert refused.status_code == 409 and "abort" in refused.json()["message"]
    plain = store.create_task(TaskRecord(name="script"))
    assert web.delete(f"/api/runs/{plain.id}", headers=headers).status_code == 422
    assert web.delete(f"/api/runs/{'f' * 32}", headers=headers).status_code == 404
    assert store.get_task(run.id).status == "in_progress"


def test_model_download_with_the_login_session(secured: TestClient, store: Any, artifacts_root: Path) -> None:
    weights = artifacts_root / "weights.bin"
    weights.write_bytes(b"w" * 64)
    run = make_run(store, {"train": []}, states={"train": "completed"})
    model = store.put_model(ModelRecord(name="net", task_id=run.steps["train"], uri=str(weights), size=64))
    store.attach_model(TaskModel(task_id=run.steps["train"], model_id=model.id, role="output", name="net"))
    url = f"/api/models/{model.id}/content"
    assert secured.get(url).status_code == 401  # no session, no key
    secured.post(
        "/login",
        data={"username": "alice", "password": "wonderland", "next": "/"},
        headers={"Origin": "http://testserver"},
    )
    step = secured.get(f"/runs/{run.id}/steps/train").text
    assert f'href="{url}" download' in step
    answer = secured.get(url)
    assert answer.status_code == 200 and answer.content == weights.read_bytes()
    assert answer.headers["content-disposition"].startswith("attachment")


def test_layout_opens_groups_by_key_and_ignores_hostile_keys(web: TestClient, store: Any) -> None:
    parents: dict[str, list[str]] = {"load": []}
    parents.update({f"train_{i}": ["load"] for i in range(20)})
    run = make_run(store, parents)
    feed = f"/runs/{run.id}/layout.json"
    assert web.get(feed).json()["labels"] == ["load", "train x20"]
    opened = web.get(feed, params={"expand": "group:train_0"}).json()
    assert len(opened["labels"]) == 21
    json_only = {"Accept": "application/json"}
    many = ["x" * 4000, *(f"group:{i}" for i in range(500)), "group:train_0"]  # past the 200 read
    answer = web.get(feed, params={"expand": many}, headers=json_only)
    assert answer.status_code == 200 and answer.json()["labels"] == ["load", "train x20"]
    for bad in ("group:train_0\x00", "x" * 5000):  # the server's bounds on every query parameter
        refused = web.get(feed, params={"expand": bad}, headers=json_only)
        assert refused.status_code == 422 and refused.json()["error"] == "ValidationError"


def test_delete_run_takes_a_pipeline_used_as_a_step_with_its_steps(web: TestClient, store: Any) -> None:
    from ductwork.core.records import NodeState, TaskTypes

    run = make_run(store, {"prep": []}, states={"prep": "completed"}, status="completed")
    inner = store.create_task(
        TaskRecord(name="inner", type=TaskTypes.controller, system_tags=["pipeline"], parent=run.id)
    )
    inner_step = store.create_task(TaskRecord(name="inner step", parent=inner.id))
    store.put_nodes([NodeState(run_id=run.id, name="sub", status="completed", task_id=inner.id)])
    copy = store.clone_task(run.id)
    headers = {"Accept": "application/json", "Origin": "http://testserver"}
    answer = web.delete(f"/api/runs/{run.id}", headers=headers)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["deleted"]) == {run.id, str(run.steps["prep"]), inner.id, inner_step.id}
    assert answer.json()["deleted"][-1] == run.id
    for gone in (run.id, inner.id, inner_step.id):
        with pytest.raises(NotFound):
            store.get_task(gone)
    assert store.get_task(copy.id).id == copy.id
