"""PipelineController: function steps, steps from existing tasks, references, callbacks, monitors."""

from __future__ import annotations

import textwrap

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, Task
from ductwork.core.queries import TaskQuery


def make_numbers(count: int, scale: float = 1.0):
    return [i * scale for i in range(count)], count


def summarize(numbers, label: str = "sum"):
    print(f"{label}: {sum(numbers)}")
    return {"label": label, "total": sum(numbers), "n": len(numbers)}


def describe(summary, note):
    return f"{summary['label']}={summary['total']} ({note})"


def modes(pipe: PipelineController, mode: str) -> None:
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=mode == "debug")


@pytest.fixture(params=["debug", "local"])
def run_mode(request: pytest.FixtureRequest, home) -> str:
    return str(request.param)


def build(scale: float = 0.5) -> PipelineController:
    pipe = PipelineController(name="numbers", project="tests", version="1.2.0")
    pipe.add_parameter("count", 4, description="how many numbers")
    pipe.add_parameter("scale", scale)
    pipe.add_function_step(
        name="make",
        function=make_numbers,
        function_kwargs={"count": "${pipeline.count}", "scale": "${pipeline.scale}"},
        function_return=["numbers", "count"],
    )
    pipe.add_function_step(
        name="summarize",
        function=summarize,
        function_kwargs={"numbers": "${make.numbers}", "label": "total of ${pipeline.count}"},
        function_return=["summary"],
    )
    pipe.add_function_step(
        name="describe",
        function=describe,
        function_kwargs={"summary": "${summarize.summary}", "note": "from task ${make.id}"},
        function_return=["text"],
    )
    return pipe


def test_function_steps_pass_typed_values(run_mode: str) -> None:
    pipe = build()
    modes(pipe, run_mode)
    store = backend()
    assert pipe.is_successful()
    dag = pipe.get_pipeline_dag()
    assert dag["summarize"].parents == ["make"]  # references became parents
    make_task = Task.get_task(task_id=dag["make"].executed)
    assert make_task.artifacts["numbers"].get() == [0.0, 0.5, 1.0, 1.5]
    assert make_task.artifacts["count"].get() == 4  # an int stays an int
    summary = Task.get_task(task_id=dag["summarize"].executed).artifacts["summary"].get()
    assert summary == {"label": "total of 4", "total": 3.0, "n": 4}
    text = Task.get_task(task_id=dag["describe"].executed).artifacts["text"].get()
    assert text == f"total of 4=3.0 (from task {dag['make'].executed})"
    run = store.get_task(pipe.id)
    assert run.status == "completed" and run.runtime["version"] == "1.2.0"
    assert store.get_parameters(pipe.id)["Args/count"].description == "how many numbers"
    assert [n.name for n in pipe.get_processed_nodes()] == ["make", "summarize", "describe"]
    assert pipe.get_running_nodes() == []
    assert pipe.elapsed() > 0


def test_references_of_every_kind(run_mode: str) -> None:
    pipe = PipelineController(name="refs", project="tests")
    pipe.add_parameter("count", 3)
    pipe.add_function_step(
        name="make",
        function=make_numbers,
        function_kwargs={"count": "${pipeline.count}"},
        function_return=["numbers", "count"],
    )
    pipe.add_function_step(
        name="show",
        function=describe,
        function_kwargs={
            "summary": {"label": "${make.parameters.kwargs/count}", "total": "${make.artifacts.count.hash}"},
            "note": "${make.id}|${make.name}|${make.artifacts.numbers.type}|${make.status}",
        },
        function_return=["text"],
    )
    modes(pipe, run_mode)
    dag = pipe.get_pipeline_dag()
    text = Task.get_task(task_id=dag["show"].executed).artifacts["text"].get()
    make_id = dag["make"].executed
    count_hash = Task.get_task(task_id=make_id).artifacts["count"].hash
    assert text == f"3={count_hash} ({make_id}|make|json|completed)"


def write_script(tmp_path, body: str) -> str:
    path = tmp_path / "step_script.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_steps_from_existing_tasks_with_overrides(home, tmp_path) -> None:
    script = write_script(
        tmp_path,
        """
        from ductwork import Task
        task = Task.init(project_name="tests", task_name="template")
        args = {"size": 2, "word": "x"}
        task.connect(args)
        task.upload_artifact("result", args["word"] * args["size"])
        print("made", args["word"] * args["size"])
        """,
    )
    template = Task.create(project_name="tests", task_name="template", script=script)
    pipe = PipelineController(name="from_tasks", project="tests")
    pipe.add_parameter("word", "ab")
    pipe.add_step(
        name="first",
        base_task_id=template.id,
        parameter_override={"General/size": 3, "General/word": "${pipeline.word}"},
    )
    pipe.add_step(
        name="second",
        base_task_project="tests",
        base_task_name="template",
        parameter_override={"General/word": "${first.artifacts.result.url}", "General/size": 1},
        task_overrides={"comment": "from ${first.id}"},
    )
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert pipe.is_successful(), [n.error for n in pipe.get_pipeline_dag().values()]
    dag = pipe.get_pipeline_dag()
    first = Task.get_task(task_id=dag["first"].executed)
    assert first.artifacts["result"].get() == "ababab"
    assert first.parent == pipe.id and first.id != template.id
    second = Task.get_task(task_id=dag["second"].executed)
    assert second.data.comment == f"from {first.id}"
    assert dag["second"].parents == ["first"]
    assert Task.get_task(task_id=template.id).status == "created"  # the template itself never runs


def test_callbacks(run_mode: str) -> None:
    seen: list[tuple[str, ...]] = []

    def pre(pipe, node, params):
        seen.append(("pre", node.name))
        if node.name == "describe":
            return False  # skip it, and so its subtree
        params["kwargs/label"] = "changed"
        return True

    def post(pipe, node):
        seen.append(("post", node.name, node.status))

    def changed(pipe, node, previous):
        seen.append(("status", node.name, previous, node.status))

    def created(pipe, node, params):
        seen.append(("created", node.name))

    def completed(pipe, node):
        seen.append(("completed", node.name))

    pipe = PipelineController(name="callbacks", project="tests")
    pipe.add_function_step(
        name="make",
        function=make_numbers,
        function_kwargs={"count": 2},
        function_return=["numbers", "count"],
        status_change_callback=changed,
    )
    pipe.add_function_step(
        name="summarize",
        function=summarize,
        function_kwargs={"numbers": "${make.numbers}"},
        function_return=["summary"],
        pre_execute_callback=pre,
        post_execute_callback=post,
    )
    pipe.add_function_step(
        name="describe",
        function=describe,
        pre_execute_callback=pre,
        function_kwargs={"summary": "${summarize.summary}", "note": "n"},
    )
    pipe._callbacks = {"created": created, "completed": completed}
    modes(pipe, run_mode)
    dag = pipe.get_pipeline_dag()
    assert dag["describe"].status == "skipped" and dag["describe"].executed is None
    summary = Task.get_task(task_id=dag["summarize"].executed).artifacts["summary"].get()
    assert summary["label"] == "changed"  # the pre-callback changed what the step received
    assert ("post", "summarize", "completed") in seen
    assert ("status", "make", "queued", "running") in seen
    assert ("status", "make", "running", "completed") in seen
    assert seen.index(("completed", "summarize")) < seen.index(("post", "summarize", "completed"))
    assert ("created", "make") in seen
    assert pipe.is_successful()


def produce_metrics(n: int):
    from ductwork import Logger, OutputModel, Task

    logger = Logger.current_logger()
    for i in range(n):
        logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
    task = Task.current_task()
    task.upload_artifact("report", {"n": n}, wait_on_upload=True)
    import os
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "weights.bin")
    with open(path, "wb") as handle:
        handle.write(b"w" * 10)
    OutputModel(task=task, name="model_best").update_weights(weights_filename=path)
    logger.flush()
    return n


def test_monitors_copy_to_the_pipeline(run_mode: str) -> None:
    pipe = PipelineController(name="monitors", project="tests")
    pipe.add_function_step(
        name="train",
        function=produce_metrics,
        function_kwargs={"n": 3},
        function_return=["n"],
        monitor_metrics=[(("loss", "train"), ("train loss", "last"))],
        monitor_artifacts=[("report", "train_report")],
        monitor_models=["model_*"],
    )
    modes(pipe, run_mode)
    assert pipe.is_successful()
    store = backend()
    from ductwork.core.queries import EventQuery

    events = store.get_events(EventQuery(task_id=pipe.id, kind="scalar"))
    assert [(e.title, e.series, e.value) for e in events] == [("train loss", "last", pytest.approx(1 / 3))]
    assert "train_report" in {a.name for a in store.get_artifacts(pipe.id)}
    assert [link.role for link in store.get_task_models(pipe.id)] == ["output"]


def test_get_clone_and_enqueue(home) -> None:
    pipe = build()
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=True)
    found = PipelineController.get(pipeline_project="tests", pipeline_name="numbers")
    assert found.id == pipe.id and found.version == "1.2.0"
    assert set(found.get_pipeline_dag()) == {"make", "summarize", "describe"}
    assert found.get_parameters() == {"count": 4, "scale": 0.5}
    again = PipelineController.get(pipeline_id=pipe.id)
    assert again.id == pipe.id
    clone = PipelineController.clone(pipe, name="numbers copy", version="2.0.0")
    store = backend()
    cloned = store.get_task(clone.id)
    assert cloned.status == "created" and cloned.runtime == {"version": "2.0.0"}
    assert store.get_parameters(clone.id)["Args/count"].value == 4
    entry = PipelineController.enqueue(clone, queue_name="services")
    assert entry.queue == "services" and store.get_task(clone.id).status == "queued"
    with pytest.raises(Exception, match="no pipeline run found"):
        PipelineController.get(pipeline_project="tests", pipeline_name="missing")


def test_pipeline_as_a_step_of_another(home, tmp_path) -> None:
    inner = PipelineController(name="inner", project="tests")
    inner.add_function_step(
        name="make", function=make_numbers, function_kwargs={"count": 2}, function_return=["numbers", "count"]
    )
    inner.create_draft()
    outer = PipelineController(name="outer", project="tests")
    outer.add_step(name="nested", base_task_id=inner.id)
    outer.start_locally(run_pipeline_steps_locally=True)
    assert outer.is_successful(), outer.get_pipeline_dag()["nested"].error
    nested = backend().get_task(outer.get_pipeline_dag()["nested"].executed)
    assert nested.type == "controller" and nested.status == "completed"
    steps = backend().query_tasks(TaskQuery(parent=nested.id))
    assert [s.name for s in steps] == ["make"] and steps[0].status == "completed"


def test_a_function_without_source_runs_in_debug_mode_only(home) -> None:
    namespace: dict[str, object] = {}
    exec("def typed_in_a_repl(x=2):\n    return x * 10\n", namespace)  # no source file, as in a REPL
    function = namespace["typed_in_a_repl"]
    pipe = PipelineController(name="repl", project="tests")
    pipe.add_function_step(name="repl", function=function, function_return=["y"])  # type: ignore[arg-type]
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=True)
    assert pipe.is_successful()
    assert Task.get_task(task_id=pipe.get_pipeline_dag()["repl"].executed).artifacts["y"].get() == 20
    local = PipelineController(name="repl", project="tests")
    local.add_function_step(name="repl", function=function)  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"step 'repl'.*only debug mode"):
        local.start_locally(run_pipeline_steps_locally=True)


def test_base_task_factory_and_model_references(home, tmp_path) -> None:
    script = write_script(
        tmp_path,
        """
        from ductwork import Task
        task = Task.init(project_name="tests", task_name="made")
        task.upload_artifact("answer", 42)
        """,
    )
    made: list[str] = []

    def factory(node):
        task = Task.create(project_name="tests", task_name=f"made for {node.name}", script=script)
        made.append(task.id)
        return task

    pipe = PipelineController(name="factory", project="tests")
    pipe.add_step(name="built", base_task_factory=factory)
    pipe.add_function_step(
        name="train", function=produce_metrics, function_kwargs={"n": 2}, function_return=["n"]
    )
    pipe.add_function_step(
        name="use",
        function=describe,
        function_return=["text"],
        function_kwargs={
            "summary": {"label": "${train.models.output.-1.name}", "total": "${built.id}"},
            "note": "${train.models.output.0.framework}",
        },
    )
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert pipe.is_successful(), {n: x.error for n, x in pipe.get_pipeline_dag().items()}
    dag = pipe.get_pipeline_dag()
    assert dag["built"].executed == made[0]
    assert Task.get_task(task_id=made[0]).artifacts["answer"].get() == 42
    text = Task.get_task(task_id=dag["use"].executed).artifacts["text"].get()
    assert text.startswith(f"model_best={made[0]} (")


def test_tags_projects_drafts_configuration_and_time_limit(home) -> None:
    pipe = PipelineController(
        name="options", project="tests", add_pipeline_tags=True, target_project="tests/steps"
    )
    settings = pipe.connect_configuration({"threshold": 0.5, "labels": ["a", "b"]}, name="settings")
    assert settings == {"threshold": 0.5, "labels": ["a", "b"]}
    pipe.add_function_step(name="quick", function=ok_value, function_return=["x"], stage="prepare")
    pipe.add_function_step(name="drafted", function=ok_value, parents=["quick"], draft=True)
    pipe.add_function_step(name="after_draft", function=ok_value, parents=["drafted"])
    pipe.add_tags(["nightly"])
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=True)
    store = backend()
    dag = pipe.get_pipeline_dag()
    quick = store.get_task(dag["quick"].executed)
    assert f"pipe: {pipe.id}" in quick.tags
    assert store.get_project(quick.project).name == "tests/steps"
    drafted = store.get_task(dag["drafted"].job_id)
    assert drafted.status == "created" and dag["drafted"].status == "skipped"
    assert dag["after_draft"].status == "skipped"
    assert "nightly" in store.get_task(pipe.id).tags
    assert "settings" in store.get_configurations(pipe.id)
    import json

    stored = json.loads(store.get_configurations(pipe.id)["Pipeline"].text)
    assert stored["quick"]["stage"] == "prepare" and stored["drafted"]["draft"] is True

    limited = PipelineController(name="limited", project="tests")
    limited.set_pipeline_execution_time_limit(1 / 60)  # one second
    # The step would sleep past the test's own timeout: only the time limit can end it, aborted.
    limited.add_function_step(name="slow", function=sleepy, function_kwargs={"seconds": 600})
    limited.add_function_step(name="next", function=ok_value, parents=["slow"])
    limited.start_locally(run_pipeline_steps_locally=True)
    assert store.get_task(limited.id).status == "failed"
    assert {n: x.status for n, x in limited.get_pipeline_dag().items()} == {
        "slow": "aborted",
        "next": "skipped",
    }


def ok_value(x: int = 1):
    return x


def sleepy(seconds: float):
    import time

    time.sleep(seconds)
