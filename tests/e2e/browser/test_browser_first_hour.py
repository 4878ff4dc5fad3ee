"""The web UI's first-hour rough edges (issue 16), in real Chromium over a live `ductwork ui`:
console lines wrap whole and copy whole, a step's inputs read `${step.output}`, compare shows
step metrics, a step's scalars sit beside the run's, models download through the server, runs
are deleted after a confirmation, and big fan-outs collapse into one expandable box. Every
page here must log no console error and throw no JavaScript error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Server, screenshot
from web_runs import make_run

from ductwork.core.records import ConsoleLine, MetricEvent, ModelRecord, Param, TaskModel

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/pipelines/train.py", line 42, in train\n'
    "ValueError: shapes do not match: "
    + " ".join(f"dim{i}=({i}, {i * 7})" for i in range(60))
    + " END-OF-THE-LINE"
)


@pytest.fixture
def ui(browser: Any, server: Server) -> Iterator[Any]:
    """A page that fails the test on any console error or uncaught exception; closed before
    the server stops (a live event stream cut by the server's end is not the page's error)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    opened.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_run(page: Any, server: Server, run_id: str) -> None:
    page.goto(f"{server.url}/runs/{run_id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")


def pick_step(page: Any, step: str) -> None:
    page.locator(f"#steps-list .vrow:has-text('{step}')").first.click()
    page.wait_for_selector(f"#info h2:text-is('{step}')")


def two_step_run(server: Server, **options: Any) -> Any:
    return make_run(
        server.store,
        {"load": [], "train": ["load"]},
        states={"load": "completed", "train": "completed"},
        status="completed",
        **options,
    )


def test_console_lines_wrap_whole_scroll_sideways_and_copy(ui: Any, server: Server) -> None:
    run = two_step_run(server)
    train = run.steps["train"]
    lines = [ConsoleLine(task_id=train, text=f"epoch {i}") for i in range(40)]
    lines.append(ConsoleLine(task_id=train, text=TRACEBACK, stream="stderr"))
    server.store.add_console(lines)
    open_run(ui, server, run.id)
    pick_step(ui, "train")
    ui.locator("#info button.tab[data-tab=console]").click()
    last = ui.locator("#info .console .line:has-text('END-OF-THE-LINE')")
    last.wait_for()
    # Wrapped: the whole line is on screen, over several rows, and nothing is cut with "...".
    text = last.locator(".tx")
    assert text.inner_text().endswith("END-OF-THE-LINE")
    box = text.bounding_box()
    assert box is not None and box["height"] > 3 * 18
    assert text.evaluate("e => getComputedStyle(e).textOverflow") != "ellipsis"
    assert text.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    screenshot(ui, "console-wrapped.png")

    # Copy all: every line, in full, without line numbers.
    ui.locator("#info [data-copy]").click()
    ui.wait_for_selector("#info [data-copy]:has-text('Copied')")
    copied = ui.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("epoch 0\nepoch 1\n") and copied.endswith("END-OF-THE-LINE")
    assert TRACEBACK in copied

    # Wrap off: one row a line, the console scrolls sideways to the end of it.
    ui.locator("#info [data-wrap]").uncheck()
    console = ui.locator("#info .console")
    assert console.evaluate("e => e.scrollWidth > e.clientWidth + 100")
    row = ui.locator("#info .console .line:has-text('END-OF-THE-LINE')")
    assert row.bounding_box()["height"] <= 18 * 1.5
    console.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    assert row.locator(".tx").inner_text().endswith("END-OF-THE-LINE")
    # The choice is kept for the next console (the task page's).
    ui.goto(f"{server.url}/tasks/{train}?tab=console")
    ui.wait_for_selector(".console .line:has-text('END-OF-THE-LINE')")
    assert not ui.locator("[data-wrap]").is_checked()
    assert ui.locator(".console.nowrap").count() == 1


def test_a_steps_inputs_read_as_written_and_link_to_their_step(ui: Any, server: Server) -> None:
    run = two_step_run(server)
    load, train = run.steps["load"], run.steps["train"]
    server.store.set_parameters(
        train,
        {
            "kwargs/points": Param({"$ref": f"{load}.points"}, "dict"),
            "kwargs/both": Param([{"$ref": f"{load}.points"}, 3], "list"),
            "kwargs_artifacts/points": Param(f"{load}.points", "str"),
        },
    )
    open_run(ui, server, run.id)
    pick_step(ui, "train")
    info = ui.locator("#info")
    assert "$ref" not in info.inner_text()
    assert info.locator("code:text-is('${load.points}')").count() == 2
    assert info.locator("code:has-text('[\"${load.points}\", 3]')").count() == 1
    # The link selects the producing step in the graph and opens its info.
    info.locator("a.ref-link[data-step=load]").first.click()
    ui.wait_for_selector("#info h2:text-is('load')")
    # The task page reads the same and links to the producing task.
    ui.goto(f"{server.url}/tasks/{train}?tab=configuration")
    ui.wait_for_selector("code:text-is('${load.points}')")
    assert ui.locator(f"a.ref-link[href='/tasks/{load}']").count() >= 1


def test_compare_shows_each_steps_last_metrics(ui: Any, server: Server) -> None:
    runs = [two_step_run(server, name=f"etl {i}") for i in (1, 2)]
    for i, run in enumerate(runs):
        server.store.add_events(
            [
                MetricEvent(task_id=run.steps["train"], kind="scalar", title="loss", iteration=it, value=v)
                for it, v in enumerate([1.0, 0.5, 0.25 + i])
            ]
            + [MetricEvent(task_id=run.steps["load"], kind="single", title="rows", value=100.0 * (i + 1))]
        )
    ui.goto(f"{server.url}/compare?ids={runs[0].id}&ids={runs[1].id}")
    table = ui.locator("#step-metrics")
    table.wait_for()
    loss = table.locator("tr:has(th:text-is('train')):has(th:text-is('loss')) td")
    assert loss.all_inner_texts() == ["0.25", "1.25"]
    rows = table.locator("tr:has(th:text-is('load')):has(th:text-is('rows')) td")
    assert rows.all_inner_texts() == ["100", "200"]
    screenshot(ui, "compare-step-metrics.png")


def test_a_steps_scalars_beside_the_runs(ui: Any, server: Server) -> None:
    run = two_step_run(server)
    server.store.add_events(
        [
            MetricEvent(
                task_id=run.steps["train"], kind="scalar", title="loss", iteration=i, value=1 / (i + 1)
            )
            for i in range(20)
        ]
        + [
            MetricEvent(task_id=run.id, kind="scalar", title="best loss", iteration=i, value=0.5)
            for i in range(5)
        ]
    )
    open_run(ui, server, run.id)
    pick_step(ui, "train")
    ui.locator("#info button.tab[data-tab=charts]").click()
    step_side = ui.locator("#info [data-side=step]")
    run_side = ui.locator("#info [data-side=run]")
    step_side.locator(".chart h4:text-is('loss') ~ *, .chart canvas").first.wait_for()
    run_side.locator(".chart canvas").first.wait_for()
    assert step_side.locator(".chart h4").all_inner_texts() == ["loss"]
    assert run_side.locator(".chart h4").all_inner_texts() == ["best loss"]
    left, right = step_side.bounding_box(), run_side.bounding_box()
    assert left is not None and right is not None
    assert right["x"] >= left["x"] + left["width"] - 1 and abs(right["y"] - left["y"]) < 2  # side by side
    screenshot(ui, "step-scalars-beside-run.png")
    # The step's own task page shows them side by side too.
    ui.goto(f"{server.url}/tasks/{run.steps['train']}?tab=scalars")
    ui.locator("[data-side=run] .chart canvas").first.wait_for()
    assert ui.locator("[data-side=step] .chart h4").all_inner_texts() == ["loss"]
    assert ui.locator("[data-side=run] .chart h4").all_inner_texts() == ["best loss"]


def test_a_model_downloads_through_the_server(ui: Any, server: Server) -> None:
    run = two_step_run(server)
    root = server.home / "artifacts" / "models"
    root.mkdir(parents=True, exist_ok=True)
    weights = root / "weights.bin"
    weights.write_bytes(b"\x00weights\x01" * 100)
    model = server.store.put_model(
        ModelRecord(name="classifier", task_id=run.steps["train"], uri=str(weights), size=1000)
    )
    server.store.attach_model(
        TaskModel(task_id=run.steps["train"], model_id=model.id, role="output", name="classifier")
    )
    open_run(ui, server, run.id)
    pick_step(ui, "train")
    link = ui.locator(f"#info a.model-download[href='/api/models/{model.id}/content']")
    with ui.expect_download() as done:
        link.click()
    saved = done.value.path()
    assert saved is not None and Path(saved).read_bytes() == weights.read_bytes()


def test_delete_run_asks_first_then_deletes_it_and_its_steps(ui: Any, server: Server) -> None:
    run = two_step_run(server)
    server.store.add_console([ConsoleLine(task_id=run.steps["train"], text="epoch 1")])
    open_run(ui, server, run.id)
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    ui.once("dialog", lambda d: answer(d, False))
    ui.locator(".run-head summary[aria-label='More actions']").click()
    ui.locator(".run-head [data-action=delete]").click()
    deadline = time.monotonic() + 5
    while not asked and time.monotonic() < deadline:
        ui.wait_for_timeout(50)
    assert asked and "2 steps" in asked[0] and "cannot be undone" in asked[0]
    assert server.store.get_task(run.id).id == run.id  # no: nothing deleted

    ui.once("dialog", lambda d: answer(d, True))
    ui.locator(".run-head summary[aria-label='More actions']").click()
    ui.locator(".run-head [data-action=delete]").click()
    ui.wait_for_url(f"**/pipelines/{run.project_id}")
    from ductwork.core.errors import NotFound

    for task_id in (run.id, *run.steps.values()):
        with pytest.raises(NotFound):
            server.store.get_task(task_id)
        with pytest.raises(NotFound):
            server.store.get_console(str(task_id))
    assert run.id not in ui.content()


GROUP_CENTRE = """(label) => {
  const d = window.__dag.dag, v = window.__dag.view;
  const r = document.getElementById("dag").getBoundingClientRect();
  const b = d.labels.indexOf(label);
  if (b < 0) return null;
  return [r.left + (d.x[b] + d.w / 2) * v.scale + v.tx, r.top + (d.y[b] + d.h[b] / 2) * v.scale + v.ty];
}"""


def test_a_fan_out_stage_collapses_to_one_box_and_opens_on_demand(ui: Any, server: Server) -> None:
    """32 calls of `train`, each with its own `evaluate`: `train x32 -> evaluate x32`, counts per
    status; one group opens step by step while the other stays collapsed."""
    trains = ["train", *(f"train_{i}" for i in range(1, 32))]
    evals = ["evaluate", *(f"evaluate_{i}" for i in range(1, 32))]
    parents: dict[str, list[str]] = {"load": []}
    parents.update({t: ["load"] for t in trains})
    parents.update({e: [t] for e, t in zip(evals, trains, strict=True)})
    parents["report"] = evals
    states = {"load": "completed"} | {t: "completed" for t in trains[:20]}
    states |= {t: "running" for t in trains[20:30]} | {t: "failed" for t in trains[30:]}
    states |= {e: "completed" for e in evals[:20]}
    run = make_run(server.store, parents, states=states)
    open_run(ui, server, run.id)
    assert ui.evaluate("window.__dag.dag.labels") == ["load", "train x32", "evaluate x32", "report"]
    screenshot(ui, "run-page-fan-out-collapsed.png")

    point = ui.evaluate(GROUP_CENTRE, "train x32")
    ui.mouse.click(point[0], point[1])
    ui.wait_for_selector("#info h2:text-is('train x32')")
    counts = ui.locator("#info table.kv").inner_text()
    assert "completed\t20" in counts and "running\t10" in counts and "failed\t2" in counts
    ui.locator("#info [data-expand]").click()
    ui.wait_for_function("() => window.__dag.dag.n === 3 + 32")
    labels = ui.evaluate("window.__dag.dag.labels")
    assert "evaluate x32" in labels  # the stage below stays collapsed
    assert "train_31" in labels and "train x32" not in labels
    status = ui.evaluate("(d => d.boxStatus[d.keys.indexOf('train_31')])(window.__dag.dag)")
    assert status == 4  # failed, drawn on its own box
    ui.get_by_role("button", name="Group fan-outs").click()
    ui.wait_for_function("() => window.__dag.dag.n === 4")
    ui.get_by_role("button", name="Show every step").click()
    ui.wait_for_function(f"() => window.__dag.dag.n === {len(parents)}")


def test_delete_from_the_runs_table_removes_the_row(ui: Any, server: Server) -> None:
    keep = two_step_run(server, name="etl keep")
    gone = two_step_run(server, name="etl gone")
    ui.goto(f"{server.url}/pipelines/{gone.project_id}")
    row = ui.locator(f"tr[data-run='{gone.id}']")
    row.wait_for()
    ui.once("dialog", lambda dialog: dialog.accept())
    row.locator("summary").click()
    row.locator("[data-action=delete]").click()
    ui.wait_for_selector(f"tr[data-run='{gone.id}']", state="detached")
    assert ui.locator(f"tr[data-run='{keep.id}']").count() == 1
    from ductwork.core.errors import NotFound

    with pytest.raises(NotFound):
        server.store.get_task(gone.id)


def test_every_page_and_tab_loads_without_a_console_error(ui: Any, server: Server) -> None:
    """A walk through the UI as a new user clicks it: no page logs an error (the fixture checks)."""
    run = two_step_run(server, args={"lr": Param(0.1, "float")})
    other = two_step_run(server)
    train = run.steps["train"]
    server.store.add_console([ConsoleLine(task_id=train, text=TRACEBACK, stream="stderr")])
    server.store.add_events([MetricEvent(task_id=train, kind="scalar", title="loss", value=0.5)])
    server.store.ensure_queue("services")
    pages = [
        "/pipelines",
        f"/pipelines/{run.project_id}",
        f"/pipelines/{run.project_id}?archived=true",
        f"/compare?ids={run.id}&ids={other.id}",
        "/tasks",
        "/tasks?status=running",
        *(
            f"/tasks/{train}?tab={tab}"
            for tab in ("execution", "configuration", "artifacts", "console", "scalars", "plots", "info")
        ),
        f"/tasks/{run.id}",
        "/queues",
        "/schedulers",
    ]
    for path in pages:
        answer = ui.goto(f"{server.url}{path}")
        assert answer is not None and answer.status == 200, path
        ui.wait_for_load_state("networkidle")
    open_run(ui, server, run.id)
    for step in ("load", "train"):
        pick_step(ui, step)
        for tab in ("code", "console", "charts", "overview"):
            ui.locator(f"#info button.tab[data-tab={tab}]").click()
        ui.wait_for_timeout(200)
    ui.get_by_role("button", name="+ New run").click()
    ui.locator("#modal form.modal").wait_for()
    ui.keyboard.press("Escape")
    ui.wait_for_timeout(300)
