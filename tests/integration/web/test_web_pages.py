"""The web UI's pages and feeds, over a real store (SQLite and PostgreSQL), through the ASGI app."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from web_runs import make_run, set_states

from ductwork.core.queries import TaskQuery
from ductwork.core.records import (
    ArtifactRecord,
    ConfigObject,
    ConsoleLine,
    MetricEvent,
    ModelRecord,
    NodeState,
    Param,
    TaskModel,
    TaskRecord,
    Worker,
)

ARGS = {"lr": Param(0.1, "float"), "epochs": Param(3, "int"), "dataset": Param("iris", "str")}
DIAMOND = {
    "load": [],
    "clean": ["load"],
    "train": ["clean"],
    "score": ["clean"],
    "report": ["train", "score"],
}


def test_pipelines_list_counts_runs_by_status_with_last_run(web: TestClient, store: Any) -> None:
    make_run(store, DIAMOND, pipeline="etl", status="completed")
    make_run(store, DIAMOND, pipeline="etl", status="failed")
    make_run(store, DIAMOND, pipeline="etl", status="in_progress")
    make_run(store, DIAMOND, project="vision", pipeline="detect", status="completed")
    store.create_task(TaskRecord(name="not a pipeline", project=store.ensure_project("examples").id))

    page = web.get("/pipelines")
    assert page.status_code == 200
    assert 'action="/logout"' not in page.text  # `ductwork ui` has no sessions to end
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    etl = next(r for r in rows if ">etl<" in r)
    assert ">examples<" in etl and ">3<" in etl
    assert "1 completed" in etl and "1 failed" in etl and "1 running" in etl
    assert "just now" in etl
    assert ">detect<" in page.text and "not a pipeline" not in page.text

    found = web.get("/pipelines", params={"q": "vision"}, headers={"HX-Request": "true"})
    assert ">detect<" in found.text and ">etl<" not in found.text
    assert "<html" not in found.text  # htmx gets the fragment only


def test_runs_table_has_args_and_metrics_columns_sorts_and_filters(web: TestClient, store: Any) -> None:
    runs = []
    for i, (lr, status) in enumerate([(0.3, "completed"), (0.1, "failed"), (0.2, "completed")]):
        run = make_run(
            store, DIAMOND, name=f"etl #{i + 1}", status=status, args={**ARGS, "lr": Param(lr, "float")}
        )
        store.add_events([MetricEvent(task_id=run.id, kind="single", title="accuracy", value=0.5 + lr)])
        runs.append(run)

    page = web.get(f"/pipelines/{runs[0].project_id}")
    assert page.status_code == 200
    head = re.search(r"<thead>(.*?)</thead>", page.text, re.S)
    assert head is not None
    for column in (
        "Run",
        "Version",
        "Status",
        "User",
        "Started",
        "Run time",
        "lr",
        "epochs",
        "dataset",
        "accuracy",
    ):
        assert f">{column}<" in head.group(1)
    assert "0.8" in page.text  # accuracy of lr 0.3

    by_lr = web.get(f"/pipelines/{runs[0].project_id}", params={"sort": "arg:lr", "desc": "false"})
    names = re.findall(r'href="/runs/\w+">(etl #\d)<', by_lr.text)
    assert names == ["etl #2", "etl #3", "etl #1"]
    by_metric = web.get(
        f"/pipelines/{runs[0].project_id}", params={"sort": "metric:accuracy", "desc": "true"}
    )
    assert re.findall(r'href="/runs/\w+">(etl #\d)<', by_metric.text) == ["etl #1", "etl #3", "etl #2"]

    failed = web.get(f"/pipelines/{runs[0].project_id}", params={"status": "failed"})
    assert re.findall(r'href="/runs/\w+">(etl #\d)<', failed.text) == ["etl #2"]
    searched = web.get(f"/pipelines/{runs[0].project_id}", params={"q": "#3"})
    assert re.findall(r'href="/runs/\w+">(etl #\d)<', searched.text) == ["etl #3"]

    # The table refreshes itself and pre-fills NEW RUN from the newest run.
    assert 'hx-trigger="every 5s' in page.text
    assert f'hx-get="/runs/{runs[2].id}/new"' in page.text


def test_run_page_layout_and_live_states(web: TestClient, store: Any) -> None:
    run = make_run(store, DIAMOND, args=ARGS, states={"load": "completed", "clean": "running"})
    page = web.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert '<canvas id="dag"' in page.text and "/static/js/run.js" in page.text
    assert 'data-status="running"' in page.text

    layout = web.get(f"/runs/{run.id}/layout.json").json()
    assert layout["keys"] == list(DIAMOND)
    at = {k: i for i, k in enumerate(layout["keys"])}
    assert [at["load"], at["clean"]] in layout["edges"] and [at["score"], at["report"]] in layout["edges"]
    assert layout["y"][at["clean"]] > layout["y"][at["load"]]
    states = layout["states"]
    assert dict(zip(states["names"], states["status"], strict=True)) == {
        "load": "completed",
        "clean": "running",
        "train": "pending",
        "score": "pending",
        "report": "pending",
    }
    assert states["started"][states["names"].index("clean")] is not None

    set_states(store, run, {"clean": "completed", "train": "running", "score": "cached"})
    live = web.get(f"/runs/{run.id}/states.json").json()
    assert dict(zip(live["names"], live["status"], strict=True))["score"] == "cached"
    assert live["run_status"] == "running"


def test_big_fan_out_is_one_group_node_with_every_member(web: TestClient, store: Any) -> None:
    parents: dict[str, list[str]] = {"split": []}
    parents.update({f"shard_{i}": ["split"] for i in range(300)})
    parents["merge"] = [f"shard_{i}" for i in range(300)]
    run = make_run(store, parents, states={f"shard_{i}": "completed" for i in range(100)})
    layout = web.get(f"/runs/{run.id}/layout.json").json()
    assert layout["labels"] == ["split", "shard x300", "merge"]
    assert layout["members"] == {"1": [f"shard_{i}" for i in range(300)]}
    assert len(layout["states"]["names"]) == 302
    flat = web.get(f"/runs/{run.id}/layout.json", params={"grouped": "false"}).json()
    assert len(flat["keys"]) == 302


def test_step_info_shows_parameters_code_cache_and_outputs(
    web: TestClient, store: Any, artifacts_root: Path
) -> None:
    run = make_run(store, DIAMOND, states={"load": "completed", "clean": "cached", "train": "running"})
    load = run.steps["load"]
    assert load is not None
    store.set_parameters(load, {"kwargs/path": Param("/data/iris.csv", "str")})
    store.put_artifact(ArtifactRecord(task_id=load, name="summary", type="json", inline='{"rows": 150}'))
    store.add_events([MetricEvent(task_id=load, kind="single", title="rows", value=150.0)])

    info = web.get(f"/runs/{run.id}/steps/load")
    assert info.status_code == 200
    text = info.text
    assert "Step info" in text and ">load<" in text
    assert "/data/iris.csv" in text and "def load(x):" in text
    assert "summary" in text and "{&#34;rows&#34;: 150}" in text
    assert "rows" in text and "150" in text
    assert f'data-console="{load}"' in text
    assert "Caching is off" in text

    cached = web.get(f"/runs/{run.id}/steps/clean").text
    assert ">hit</span> reused task 1234 (same code and inputs)" in cached
    assert "cache hit:" not in cached and "key c0ffeec0ffeec0ff" in cached

    store.put_nodes(
        [
            NodeState(
                run_id=run.id,
                name="train",
                status="running",
                task_id=run.steps["train"],
                cache_key="f00d" * 16,
                cache_note="cache miss: parameter kwargs/lr changed",
            )
        ]
    )
    missed = web.get(f"/runs/{run.id}/steps/train").text
    assert ">miss</span> parameter kwargs/lr changed" in missed

    pending = web.get(f"/runs/{run.id}/steps/report").text
    assert "has not started a task yet" in pending
    missing = web.get(f"/runs/{run.id}/steps/nope")
    assert missing.status_code == 404 and "has no step" in missing.text


def test_run_info_shows_arguments_metrics_artifacts_models(web: TestClient, store: Any) -> None:
    run = make_run(store, DIAMOND, args=ARGS, version="2.1.0")
    store.add_events([MetricEvent(task_id=run.id, kind="single", title="best", value=0.97)])
    model = store.put_model(ModelRecord(name="classifier", framework="sklearn", size=2048, task_id=run.id))
    store.attach_model(TaskModel(task_id=run.id, model_id=model.id, role="output", name="classifier"))
    info = web.get(f"/runs/{run.id}/info").text
    assert "Run info" in info and "version 2.1.0" in info
    for expected in (
        "lr",
        "0.1",
        "epochs",
        "dataset",
        "iris",
        "best",
        "0.97",
        "classifier",
        "sklearn",
        "2.0 KB",
    ):
        assert expected in info


def test_task_page_tabs(web: TestClient, store: Any) -> None:
    run = make_run(store, DIAMOND, args=ARGS, states={"load": "completed"})
    load = run.steps["load"]
    assert load is not None
    store.edit_task(load, {"requirements": {"pip": "numpy==2.1.0"}, "container": {"image": "python:3.11"}})
    tabs = {
        "execution": ["def load(x):", "numpy==2.1.0", "python:3.11"],
        "configuration": [],
        "artifacts": ["No artifacts."],
        "console": [f'data-console="{load}"'],
        "scalars": [f'data-charts="{load}"'],
        "plots": [f'data-plots="{load}"'],
        "info": [load, "data_processing"],
    }
    for tab, expected in tabs.items():
        page = web.get(f"/tasks/{load}", params={"tab": tab})
        assert page.status_code == 200, tab
        for snippet in expected:
            assert snippet in page.text, (tab, snippet)
    config = web.get(f"/tasks/{run.id}", params={"tab": "configuration"}).text
    assert "Pipeline" in config and "parents" in config and "Args" in config


def test_scalars_are_grouped_and_downsampled_keeping_ends_and_spikes(web: TestClient, store: Any) -> None:
    task = store.create_task(TaskRecord(name="train"))
    events = [
        MetricEvent(
            task_id=task.id, kind="scalar", title="loss", series=series, iteration=i, value=float(i % 7)
        )
        for series in ("train", "val")
        for i in range(5000)
    ]
    events[1234] = MetricEvent(
        task_id=task.id, kind="scalar", title="loss", series="train", iteration=1234, value=1e6
    )
    events.append(
        MetricEvent(task_id=task.id, kind="scalar", title="lr", series="lr", iteration=0, value=0.1)
    )
    store.add_events(events)

    charts = web.get(f"/tasks/{task.id}/scalars.json", params={"max_points": 300}).json()
    assert [c["title"] for c in charts] == ["loss", "lr"]
    train = next(s for s in charts[0]["series"] if s["name"] == "train")
    assert train["points"] == 5000 and len(train["x"]) == len(train["y"]) == len(train["t"]) == 300
    assert train["x"][0] == 0 and train["x"][-1] == 4999
    assert 1e6 in train["y"]  # the spike survives downsampling
    assert train["x"] == sorted(train["x"])
    assert charts[1]["series"][0]["y"] == [0.1]


def test_console_pages_after_a_sequence_and_downloads_whole(web: TestClient, store: Any) -> None:
    task = store.create_task(TaskRecord(name="chatty"))
    store.add_console([ConsoleLine(task_id=task.id, text=f"line {i}") for i in range(30)])
    store.add_console([ConsoleLine(task_id=task.id, text="boom", stream="stderr")])
    first = web.get(f"/tasks/{task.id}/console.json", params={"limit": 10}).json()
    assert [line[3] for line in first["lines"]] == [f"line {i}" for i in range(10)]
    assert first["final"] is False and first["live"] is False  # a draft: nothing to tail yet
    last_seq = first["lines"][-1][0]
    rest = web.get(f"/tasks/{task.id}/console.json", params={"after": last_seq}).json()
    assert rest["lines"][0][3] == "line 10" and rest["lines"][-1][1:4:2] == ["stderr", "boom"]
    download = web.get(f"/tasks/{task.id}/console.txt")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.text.splitlines() == [f"line {i}" for i in range(30)] + ["boom"]


def test_artifact_download_and_preview_are_confined_to_the_artifact_root(
    web: TestClient, store: Any, artifacts_root: Path, tmp_path: Path
) -> None:
    task = store.create_task(TaskRecord(name="producer"))
    blob = artifacts_root / "blobs" / "ab" / "table.csv"
    blob.parent.mkdir(parents=True)
    blob.write_text("a,b\n1,2\n")
    store.put_artifact(
        ArtifactRecord(
            task_id=task.id,
            name="table",
            type="file",
            uri=str(blob),
            size=blob.stat().st_size,
            preview="a,b\n1,2",
            hash=hashlib.sha256(blob.read_bytes()).hexdigest(),
        )
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    store.put_artifact(ArtifactRecord(task_id=task.id, name="escape", type="file", uri=str(secret)))

    got = web.get(f"/tasks/{task.id}/artifacts/table")
    assert got.status_code == 200 and got.text == "a,b\n1,2\n"
    assert (
        "attachment" in got.headers["content-disposition"]
        and "table.csv" in got.headers["content-disposition"]
    )
    page = web.get(f"/tasks/{task.id}", params={"tab": "artifacts"}).text
    assert "a,b\n1,2" in page and "Download" in page
    refused = web.get(f"/tasks/{task.id}/artifacts/escape")
    assert refused.status_code == 404 and "not yours" not in refused.text
    assert web.get(f"/tasks/{task.id}/artifacts/none").status_code == 404


def test_new_run_form_prefills_validates_types_and_starts_the_run(web: TestClient, store: Any) -> None:
    store.ensure_queue("services")
    store.ensure_queue("gpu")
    run = make_run(store, DIAMOND, args={**ARGS, "layers": Param([64, 32], "list")}, status="completed")

    form = web.get(f"/runs/{run.id}/new")
    assert form.status_code == 200
    assert 'name="arg:lr" value="0.1"' in form.text and 'name="arg:epochs" value="3"' in form.text
    assert (
        "[64, 32]" in form.text
        and '<option value="services" selected>services (no agent listening)' in form.text
    )
    assert "No agent listens on services" in form.text

    bad = web.post(
        f"/runs/{run.id}/new",
        data={
            "arg:lr": "fast",
            "arg:epochs": "2.5",
            "arg:dataset": "iris",
            "arg:layers": "[1,",
            "queue": "gpu",
        },
    )
    assert bad.status_code == 422
    assert "&#39;fast&#39; is not a number" in bad.text and "is not a whole number" in bad.text
    assert "not valid JSON" in bad.text
    assert 'value="fast"' in bad.text  # what the user typed stays in the form
    assert store.count_tasks(TaskQuery(project=run.project_id, type=["controller"])) == 1

    good = web.post(
        f"/runs/{run.id}/new",
        data={
            "arg:lr": "0.05",
            "arg:epochs": "7",
            "arg:dataset": "wine",
            "arg:layers": "[128]",
            "queue": "gpu",
        },
    )
    assert good.status_code == 204
    new_id = good.headers["HX-Redirect"].rsplit("/", 1)[1]
    new_task = store.get_task(new_id)
    assert new_task.status == "queued" and new_task.queue == "gpu" and new_task.name == "etl #2"
    params = store.get_parameters(new_id)
    assert params["Args/lr"].value == 0.05 and params["Args/epochs"].value == 7
    assert params["Args/dataset"].value == "wine" and params["Args/layers"].value == [128]

    page = web.get(f"/runs/{new_id}")
    assert "No agent is listening on queue &#39;gpu&#39;" in page.text


def test_queues_page_shows_lengths_and_workers_with_their_task(web: TestClient, store: Any) -> None:
    store.ensure_queue("default")
    waiting = [store.create_task(TaskRecord(name=f"job {i}")) for i in range(3)]
    for task in waiting:
        store.enqueue(task.id, "default")
    busy = store.create_task(TaskRecord(name="crunching"))
    store.register_worker(Worker(id="gpu-box:1", queues=["default"], host="gpu-box", pid=4242))
    store.heartbeat("gpu-box:1", busy.id)

    page = web.get("/queues")
    assert page.status_code == 200
    row = re.search(r"<tr><td class=\"strong\">default</td>(.*?)</tr>", page.text, re.S)
    assert row is not None and '<td class="num">3</td>' in row.group(1) and "gpu-box:1" in row.group(1)
    assert "crunching" in page.text and "pid 4242" in page.text and "ago" in page.text


def test_compare_flags_differing_parameters_and_lists_metrics(web: TestClient, store: Any) -> None:
    a = make_run(store, DIAMOND, name="etl #1", args=ARGS)
    b = make_run(store, DIAMOND, name="etl #2", args={**ARGS, "lr": Param(0.5, "float")})
    for run, value in ((a, 0.9), (b, 0.8)):
        store.add_events(
            [
                MetricEvent(
                    task_id=run.id, kind="scalar", title="acc", series="val", iteration=i, value=value
                )
                for i in range(5)
            ]
        )
    page = web.get("/compare", params=[("ids", a.id), ("ids", b.id)])
    assert page.status_code == 200
    assert re.search(r'<tr class="differs"><th>Args/lr</th>', page.text)
    assert re.search(r'<tr class="same"><th>Args/epochs</th>', page.text)
    assert "acc/val" in page.text
    data = json.loads(re.search(r'id="compare-data">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
    assert [s["name"] for s in data[0]["series"]] == ["etl #1 val", "etl #2 val"]


def test_missing_things_are_pages_for_browsers_and_json_for_scripts(web: TestClient) -> None:
    page = web.get("/runs/0123456789abcdef0123456789abcdef")
    assert page.status_code == 404 and "<h1>Not found</h1>" in page.text
    feed = web.get(
        "/runs/0123456789abcdef0123456789abcdef/layout.json", headers={"Accept": "application/json"}
    )
    assert feed.status_code == 404 and feed.json()["error"] == "NotFound"


def test_static_assets_are_served_and_vendored_files_match_their_manifest(web: TestClient) -> None:
    root = Path(__file__).parents[3] / "src" / "ductwork" / "server" / "web" / "static" / "vendor"
    manifest = json.loads((root / "MANIFEST.json").read_text())
    names = {p["name"]: p for p in manifest["packages"]}
    assert set(names) == {"htmx.org", "uplot"}
    for package in manifest["packages"]:
        assert package["version"] and package["license"]
        for item in package["files"]:
            data = (root / item["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == item["sha256"], item["path"]
    served = web.get("/static/vendor/htmx/htmx.min.js")
    assert served.status_code == 200 and "javascript" in served.headers["content-type"]
    assert web.get("/static/js/run.js").status_code == 200
    assert web.get("/static/../routes.py").status_code == 404


def test_every_page_needs_a_login_and_login_logout_work(secured: TestClient, store: Any) -> None:
    run = make_run(store, DIAMOND)
    for path in (
        "/pipelines",
        f"/runs/{run.id}",
        f"/tasks/{run.id}",
        "/queues",
        f"/runs/{run.id}/layout.json",
    ):
        refused = secured.get(path)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next="), path
    assert secured.get("/static/css/app.css").status_code == 200

    login = secured.get("/login", params={"next": f"/runs/{run.id}"})
    assert login.status_code == 200 and 'name="password"' in login.text
    same_origin = {"Origin": "http://testserver"}  # a browser sends it; the login CSRF check needs it
    wrong = secured.post(
        "/login", data={"username": "alice", "password": "nope", "next": "/pipelines"}, headers=same_origin
    )
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text

    ok = secured.post(
        "/login",
        data={"username": "alice", "password": "wonderland", "next": f"/runs/{run.id}"},
        headers=same_origin,
    )
    assert ok.status_code == 303 and ok.headers["location"] == f"/runs/{run.id}"
    assert "httponly" in ok.headers["set-cookie"].lower()
    page = secured.get(f"/runs/{run.id}")
    assert page.status_code == 200 and "alice" in page.text and 'action="/logout"' in page.text

    token = re.search(r'name="csrf-token" content="(\w+)"', page.text).group(1)  # type: ignore[union-attr]
    secured.post("/logout", headers={**same_origin, "X-CSRF-Token": token})
    assert secured.get("/pipelines").status_code == 303


def test_login_never_redirects_off_site(secured: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        ok = secured.post(
            "/login",
            data={"username": "alice", "password": "wonderland", "next": target},
            headers={"Origin": "http://testserver"},
        )
        assert ok.headers["location"] == "/"


def test_layout_feed_carries_step_stages_when_the_pipeline_has_them(web: TestClient, store: Any) -> None:
    run = make_run(store, DIAMOND)
    assert "stages" not in web.get(f"/runs/{run.id}/layout.json").json()
    dag = {name: {"parents": ps, "stage": "fit" if name == "train" else None} for name, ps in DIAMOND.items()}
    store.set_configuration(run.id, "Pipeline", ConfigObject(text=json.dumps(dag), type="json"))
    assert web.get(f"/runs/{run.id}/layout.json").json()["stages"] == {"train": "fit"}


def test_tasks_page_lists_any_task_and_filters(web: TestClient, store: Any) -> None:
    home = store.ensure_project("research/nlp")
    other = store.ensure_project("ops")
    train = store.create_task(TaskRecord(name="Train BERT (v2)", project=home.id, user="alice"))
    store.set_status(train.id, "in_progress", force=True)
    store.create_task(TaskRecord(name="nightly backup", project=other.id, type="service"))
    run = make_run(store, DIAMOND, project="research/nlp", pipeline="etl")

    page = web.get("/tasks")
    assert page.status_code == 200
    assert "Train BERT (v2)" in page.text and "nightly backup" in page.text
    assert f'href="/runs/{run.id}"' in page.text  # a run opens on its run page
    assert "research/nlp / etl" in page.text
    options = re.findall(r'<option value="\w+" >([^<]+)</option>', page.text)
    assert "research/nlp" in options and not any(".pipelines" in o for o in options)

    found = web.get("/tasks", params={"q": "bert (v"}, headers={"HX-Request": "true"}).text
    assert "Train BERT (v2)" in found and "nightly backup" not in found and "<html" not in found
    running = web.get("/tasks", params={"status": "in_progress"}).text
    assert "Train BERT (v2)" in running and "nightly backup" not in running
    in_ops = web.get("/tasks", params={"project": other.id}).text
    assert "nightly backup" in in_ops and "Train BERT" not in in_ops


def test_runs_table_counts_every_run_when_it_reads_only_the_newest(
    web: TestClient, store: Any, monkeypatch: Any
) -> None:
    from ductwork.server.services.views import pipelines

    monkeypatch.setattr(pipelines, "RUNS_PAGE", 3)
    runs = [make_run(store, {"only": []}, name=f"etl #{i}") for i in range(5)]
    page = web.get(f"/pipelines/{runs[0].project_id}").text
    assert re.findall(r'href="/runs/\w+">(etl #\d)<', page) == ["etl #4", "etl #3", "etl #2"]
    assert "3 of 5 runs (the newest 3 are searched)" in page


def test_plots_feed_has_figures_tables_and_stored_images(
    web: TestClient, store: Any, artifacts_root: Path, tmp_path: Path
) -> None:
    task = store.create_task(TaskRecord(name="charts"))
    png = artifacts_root / "blobs" / "img.png"
    png.parent.mkdir(parents=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"\x89PNG private")
    figure = {"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}], "layout": {}}
    store.add_events(
        [
            MetricEvent(task_id=task.id, kind="plot", title="curve", series="a", iteration=1, payload=figure),
            MetricEvent(
                task_id=task.id, kind="plot", title="curve", series="a", iteration=0, payload={"old": 1}
            ),
            MetricEvent(
                task_id=task.id, kind="table", title="scores", payload={"columns": ["k"], "rows": [[1]]}
            ),
            MetricEvent(
                task_id=task.id, kind="image", title="sample", payload={"artifact": {"uri": str(png)}}
            ),
            MetricEvent(
                task_id=task.id, kind="image", title="remote", payload={"url": "https://example.com/x.png"}
            ),
            MetricEvent(
                task_id=task.id, kind="image", title="sneaky", payload={"artifact": {"uri": str(outside)}}
            ),
        ]
    )
    items = {item["title"]: item for item in web.get(f"/tasks/{task.id}/plots.json").json()}
    assert items["curve"]["payload"] == figure and items["curve"]["iteration"] == 1  # the latest only
    assert items["scores"]["kind"] == "table" and items["scores"]["payload"]["columns"] == ["k"]
    assert items["remote"]["payload"] == "https://example.com/x.png"
    stored = web.get(items["sample"]["payload"])
    assert (
        stored.status_code == 200
        and stored.content.startswith(b"\x89PNG")
        and stored.headers["content-type"] == "image/png"
    )
    assert web.get(items["sneaky"]["payload"]).status_code == 404
    assert web.get(f"/tasks/{task.id}/images/9").status_code == 404


def test_a_cloned_run_shows_its_own_states_not_those_it_was_copied_from(web: TestClient, store: Any) -> None:
    done = make_run(store, DIAMOND, status="completed", states=dict.fromkeys(DIAMOND, "completed"))
    copied = {"status": "completed", "job_started": 1.0, "job_ended": 2.0}
    dag = {name: {"parents": ps, "job_id": done.steps[name], **copied} for name, ps in DIAMOND.items()}
    store.set_configuration(done.id, "Pipeline", ConfigObject(text=json.dumps(dag), type="json"))
    clone = store.clone_task(done.id, name="etl #2")
    states = web.get(f"/runs/{clone.id}/states.json").json()
    assert states["names"] == list(DIAMOND)
    assert set(states["status"]) == {"pending"} and set(states["task"]) == {None}
    assert set(states["started"]) == {None}


def test_a_plain_task_opened_as_a_run_goes_to_its_task_page(web: TestClient, store: Any) -> None:
    task = store.create_task(TaskRecord(name="script"))
    answer = web.get(f"/runs/{task.id}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/tasks/{task.id}"
