"""Failure semantics, retries, time limits, stop, resume, caching, versions and validation."""

from __future__ import annotations

import json
import os

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, Task
from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery


def ok(x: int = 1):
    return x


def fail(x: int = 1):
    raise RuntimeError(f"failing on {x}")


def flaky(marker: str):
    import os

    # fails until it has been called twice (the marker file counts the attempts)
    count = 0
    if os.path.exists(marker):
        with open(marker) as handle:
            count = int(handle.read())
    with open(marker, "w") as handle:
        handle.write(str(count + 1))
    if count < 2:
        raise RuntimeError(f"attempt {count + 1} fails")
    return count + 1


def slow(seconds: float = 5.0):
    import time

    time.sleep(seconds)
    return seconds


def go(pipe: PipelineController, mode: str) -> None:
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=mode == "debug")


@pytest.fixture(params=["debug", "local"])
def run_mode(request: pytest.FixtureRequest, home) -> str:
    return str(request.param)


def diamond(**fail_kwargs) -> PipelineController:
    pipe = PipelineController(name="diamond", project="tests")
    pipe.add_function_step(name="a", function=ok, function_return=["x"])
    pipe.add_function_step(name="bad", function=fail, parents=["a"], function_return=["x"], **fail_kwargs)
    pipe.add_function_step(
        name="after_bad", function=ok, function_kwargs={"x": "${bad.x}"}, function_return=["x"]
    )
    pipe.add_function_step(name="good", function=ok, parents=["a"], function_return=["x"])
    pipe.add_function_step(name="after_good", function=ok, function_kwargs={"x": "${good.x}"})
    return pipe


def statuses(pipe: PipelineController) -> dict[str, str]:
    return {name: node.status for name, node in pipe.get_pipeline_dag().items()}


def test_a_failed_step_skips_its_descendants_only(run_mode: str) -> None:
    pipe = diamond()
    go(pipe, run_mode)
    assert statuses(pipe) == {
        "a": "completed",
        "bad": "failed",
        "after_bad": "skipped",
        "good": "completed",
        "after_good": "completed",
    }
    run = backend().get_task(pipe.id)
    assert run.status == "failed" and "bad" in run.status_reason
    assert not pipe.is_successful()
    step = backend().get_task(pipe.get_pipeline_dag()["bad"].job_id)
    assert step.status == "failed"


def test_continue_on_fail_keeps_the_run_successful(run_mode: str) -> None:
    pipe = diamond(continue_behaviour={"continue_on_fail": True, "skip_children_on_fail": False})
    go(pipe, run_mode)
    got = statuses(pipe)
    assert got["bad"] == "failed" and got["after_bad"] == "failed"  # it ran, without its input
    assert backend().get_task(pipe.id).status == "failed"  # after_bad itself failed
    pipe2 = PipelineController(name="lenient", project="tests")
    pipe2.add_function_step(name="bad", function=fail, continue_on_fail=True)
    pipe2.add_function_step(name="next", function=ok, parents=["bad"])
    go(pipe2, run_mode)
    assert statuses(pipe2) == {"bad": "failed", "next": "skipped"}  # children skipped by default
    assert backend().get_task(pipe2.id).status == "completed"
    assert pipe2.is_successful(fail_on_step_fail=False)


def test_abort_on_failure_stops_everything(home) -> None:
    pipe = PipelineController(name="strict", project="tests", abort_on_failure=True)
    pipe.add_function_step(name="bad", function=fail)
    pipe.add_function_step(name="long", function=slow, function_kwargs={"seconds": 30})
    pipe.add_function_step(name="later", function=ok, parents=["bad"])
    pipe.start_locally(run_pipeline_steps_locally=True)
    got = statuses(pipe)
    assert got["bad"] == "failed" and got["long"] == "aborted" and got["later"] == "skipped"
    assert backend().get_task(pipe.get_pipeline_dag()["long"].job_id).status == "stopped"


def test_retries_record_each_attempt(run_mode: str, tmp_path) -> None:
    marker = str(tmp_path / "attempts")
    pipe = PipelineController(name="retry", project="tests")
    pipe.add_function_step(
        name="flaky",
        function=flaky,
        function_kwargs={"marker": marker},
        function_return=["n"],
        retry_on_failure=2,
    )
    go(pipe, run_mode)
    node = pipe.get_pipeline_dag()["flaky"]
    assert node.status == "completed" and node.attempt == 2
    attempts = backend().query_tasks(TaskQuery(parent=pipe.id, order_by="created"))
    assert [t.status for t in attempts] == ["failed", "failed", "completed"]
    assert Task.get_task(task_id=node.executed).artifacts["n"].get() == 3


def test_retry_callback_decides(home, tmp_path) -> None:
    calls = []

    def policy(pipe, node, retries):
        calls.append(retries)
        return retries < 2

    pipe = PipelineController(name="retry_cb", project="tests", retry_on_failure=policy)
    pipe.add_function_step(name="bad", function=fail)
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=True)
    assert calls == [1, 2] and pipe.get_pipeline_dag()["bad"].attempt == 1


def test_time_limit_fails_the_step_and_skips_children(home) -> None:
    pipe = PipelineController(name="limit", project="tests")
    pipe.add_function_step(name="slow", function=slow, function_kwargs={"seconds": 30}, time_limit=1.0)
    pipe.add_function_step(name="child", function=ok, parents=["slow"])
    pipe.start_locally(run_pipeline_steps_locally=True)
    node = pipe.get_pipeline_dag()["slow"]
    assert node.status == "failed" and "time limit" in node.error
    assert statuses(pipe)["child"] == "skipped"
    assert pipe.elapsed() * 60 < 20
    task = backend().get_task(node.job_id)
    assert task.status == "failed" and "time limit" in task.status_reason


def test_stop_from_a_callback(run_mode: str) -> None:
    def stop_after(pipe, node):
        pipe.stop(mark_aborted=True)

    pipe = PipelineController(name="stopper", project="tests")
    pipe.add_function_step(name="first", function=ok, post_execute_callback=stop_after)
    pipe.add_function_step(name="second", function=ok, parents=["first"])
    go(pipe, run_mode)
    assert statuses(pipe) == {"first": "completed", "second": "skipped"}
    assert backend().get_task(pipe.id).status == "stopped"


def resumable(name: str, marker: str) -> PipelineController:
    """first -> flaky (fails twice: `marker` counts its attempts) -> last, run to its failure."""
    pipe = PipelineController(name=name, project="tests")
    pipe.add_function_step(name="first", function=ok, function_kwargs={"x": 7}, function_return=["x"])
    pipe.add_function_step(
        name="flaky",
        function=flaky,
        function_kwargs={"marker": marker},
        parents=["first"],
        function_return=["n"],
    )
    pipe.add_function_step(
        name="last", function=ok, function_kwargs={"x": "${flaky.n}"}, function_return=["x"]
    )
    pipe.start_locally(run_pipeline_steps_locally=True)
    return pipe


def test_resume_reruns_only_what_did_not_succeed(home, tmp_path) -> None:
    pipe = resumable("resumable", str(tmp_path / "attempts"))
    assert statuses(pipe) == {"first": "completed", "flaky": "failed", "last": "skipped"}
    first_task = pipe.get_pipeline_dag()["first"].executed
    PipelineController.resume(pipe.id)  # attempt 2 fails again
    resumed = PipelineController.resume(pipe.id)  # attempt 3 succeeds
    assert {n: s for n, s in statuses(resumed).items()} == {
        "first": "completed",
        "flaky": "completed",
        "last": "completed",
    }
    assert resumed.get_pipeline_dag()["first"].executed == first_task  # reused, not rerun
    assert backend().get_task(pipe.id).status == "completed"
    last = Task.get_task(task_id=resumed.get_pipeline_dag()["last"].executed)
    assert last.artifacts["x"].get() == 3


def test_resume_reuses_a_step_that_completed_after_its_state_was_last_written(home, tmp_path) -> None:
    """A run's process that dies between a step recording its end and the run's next write of
    its states (a window later) leaves that step's state behind; the step's task completed, with
    its results: resuming reuses it rather than run it again."""
    from dataclasses import replace

    pipe = resumable("late state", str(tmp_path / "attempts"))
    assert statuses(pipe) == {"first": "completed", "flaky": "failed", "last": "skipped"}
    store = backend()
    first = next(state for state in store.get_nodes(pipe.id) if state.name == "first")
    # As the dead process left them: its state and its DAG entry from before the step ended.
    store.put_nodes([replace(first, status="running", ended=None)])
    config = store.get_configurations(pipe.id)["Pipeline"]
    dag = json.loads(config.text)
    dag["first"].update(status="running", executed=None, job_ended=None)
    store.set_configuration(pipe.id, "Pipeline", replace(config, text=json.dumps(dag)))
    PipelineController.resume(pipe.id)  # flaky's attempt 2 fails again
    resumed = PipelineController.resume(pipe.id)  # attempt 3 succeeds
    assert set(statuses(resumed).values()) == {"completed"}
    assert resumed.get_pipeline_dag()["first"].executed == first.task_id  # reused, not rerun
    assert {state.status for state in store.get_nodes(pipe.id)} == {"completed"}


def cached_step(x: int):
    import os

    log = os.environ["EXEC_LOG"]
    with open(log, "a") as handle:
        handle.write("ran\n")
    return x * 2


def cached_pipeline(x: int = 2) -> PipelineController:
    pipe = PipelineController(name="cached", project="tests")
    pipe.add_parameter("x", x)
    pipe.add_function_step(
        name="double",
        function=cached_step,
        function_kwargs={"x": "${pipeline.x}"},
        function_return=["y"],
        cache_executed_step=True,
    )
    pipe.add_function_step(
        name="again",
        function=cached_step,
        function_kwargs={"x": "${double.y}"},
        function_return=["y"],
        cache_executed_step=True,
    )
    return pipe


def test_caching_reuses_completed_steps(run_mode: str, tmp_path, monkeypatch) -> None:
    log = tmp_path / "exec.log"
    monkeypatch.setenv("EXEC_LOG", str(log))
    first = cached_pipeline()
    go(first, run_mode)
    assert log.read_text().count("ran") == 2
    assert "never ran with caching" in first.get_pipeline_dag()["double"].cache_note
    second = cached_pipeline()
    go(second, run_mode)
    assert log.read_text().count("ran") == 2  # nothing ran again
    assert statuses(second) == {"double": "cached", "again": "cached"}
    assert second.is_successful()  # a cached step counts as success
    assert second.get_pipeline_dag()["again"].executed == first.get_pipeline_dag()["again"].executed
    third = cached_pipeline(x=5)  # a new argument misses, and says why
    go(third, run_mode)
    assert log.read_text().count("ran") == 4
    note = third.get_pipeline_dag()["double"].cache_note
    assert "cache miss" in note and "kwargs/x" in note
    forced = cached_pipeline(x=5)
    forced.force_refresh("again")
    go(forced, run_mode)
    assert statuses(forced) == {"double": "cached", "again": "completed"}
    assert "refresh" in forced.get_pipeline_dag()["again"].cache_note
    Task.get_task(task_id=forced.get_pipeline_dag()["again"].executed).set_archived(True)
    fourth = cached_pipeline(x=5)
    go(fourth, run_mode)
    assert statuses(fourth)["again"] == "cached"
    assert fourth.get_pipeline_dag()["again"].executed == third.get_pipeline_dag()["again"].executed


def test_versions_bump_only_when_the_pipeline_changes(home) -> None:
    def run(count: int) -> str:
        pipe = PipelineController(name="versioned", project="tests", auto_version_bump=True)
        pipe.add_parameter("count", count)
        pipe.add_function_step(name="a", function=ok, function_kwargs={"x": "${pipeline.count}"})
        pipe.start_locally(run_pipeline_steps_locally=True, in_process=True)
        return pipe.version

    assert run(1) == "1.0.0"
    assert run(1) == "1.0.0"
    assert run(2) == "1.0.1"
    assert run(2) == "1.0.1"
    names = sorted(t.name for t in backend().query_tasks(TaskQuery(type=["controller"])))
    assert names == ["versioned", "versioned #2", "versioned #3", "versioned #4"]
    with pytest.raises(ValidationError, match="version"):
        PipelineController(name="v", project="tests", version="not a version")


def test_validation_names_the_step_and_field(home) -> None:
    pipe = PipelineController(name="invalid", project="tests")
    pipe.add_function_step(name="a", function=ok)
    with pytest.raises(ValidationError, match="'a' is used twice"):
        pipe.add_function_step(name="a", function=ok)
    with pytest.raises(ValidationError, match="pipeline"):
        pipe.add_function_step(name="pipeline", function=ok)
    with pytest.raises(ValidationError, match="no argument 'y'"):
        pipe.add_function_step(name="b", function=ok, function_kwargs={"y": 1})
    with pytest.raises(ValidationError, match="cannot be stored"):
        pipe.add_function_step(name="c", function=ok, function_kwargs={"x": open(os.devnull)})  # noqa: SIM115
    with pytest.raises(ValidationError, match="does not exist"):
        pipe.add_step(name="d", base_task_id="0" * 32)

    def check(build, match: str, mode: str = "debug") -> None:
        bad = PipelineController(name="invalid", project="tests")
        build(bad)
        with pytest.raises(ValidationError, match=match):
            if mode == "queue":
                bad.start_locally()  # steps would go to agents: each needs a queue
            else:
                bad.start_locally(run_pipeline_steps_locally=True, in_process=True)
        refused = backend().get_task(bad.id)  # nothing ran, and no draft is left behind
        assert refused.status == "failed" and refused.status_message.startswith("refused before it started: ")
        assert not backend().query_tasks(TaskQuery(parent=bad.id, archived=None))

    check(
        lambda p: (
            p.add_function_step(name="x", function=ok, parents=["y"]),
            p.add_function_step(name="y", function=ok, parents=["x"]),
        ),
        "cycle",
    )
    check(lambda p: p.add_function_step(name="x", function=ok, parents=["nope"]), "nope")
    check(lambda p: p.add_function_step(name="x", function=ok, function_kwargs={"x": "${ghost.y}"}), "ghost")
    check(
        lambda p: (
            p.add_function_step(name="x", function=ok, function_return=["r"]),
            p.add_function_step(name="y", function=ok, function_kwargs={"x": "${x.other}"}),
        ),
        "other",
    )
    check(
        lambda p: p.add_function_step(name="x", function=ok, function_kwargs={"x": "${pipeline.missing}"}),
        "missing",
    )
    check(lambda p: p.add_function_step(name="x", function=ok), "no execution queue", mode="queue")


def test_an_abort_from_outside_stops_a_local_run(home) -> None:
    import threading
    import time

    pipe = PipelineController(name="aborted", project="tests")
    pipe.add_function_step(name="long", function=slow, function_kwargs={"seconds": 30})
    pipe.add_function_step(name="after", function=ok, parents=["long"])

    def abort_soon() -> None:  # as the web UI's abort does: the controller task becomes stopped
        store = backend()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and store.get_task(pipe.id).status != "in_progress":
            time.sleep(0.05)
        time.sleep(0.5)
        store.set_status(pipe.id, "stopped", message="aborted by a user", force=True)

    threading.Thread(target=abort_soon, daemon=True).start()
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert statuses(pipe) == {"long": "aborted", "after": "skipped"}
    assert pipe.elapsed() * 60 < 15
    assert backend().get_task(pipe.id).status == "stopped"
    assert backend().get_task(pipe.get_pipeline_dag()["long"].job_id).status == "stopped"


def test_a_step_that_cannot_start_fails_alone(home) -> None:
    from ductwork.core.records import TaskRecord

    empty = backend().create_task(TaskRecord(name="no code"))  # nothing an executor could run
    pipe = PipelineController(name="unstartable", project="tests")
    pipe.add_step(name="broken", base_task_id=empty.id)
    pipe.add_function_step(name="fine", function=ok, function_return=["x"])
    pipe.start_locally(run_pipeline_steps_locally=True)
    got = statuses(pipe)
    assert got == {"broken": "failed", "fine": "completed"}
    node = pipe.get_pipeline_dag()["broken"]
    assert "could not start" in node.error and "no code to run" in node.error
    assert backend().get_task(node.job_id).status == "failed"
    assert backend().get_task(pipe.id).status == "failed"
