"""Task.init, the current task, and how a process's task ends."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core.errors import ValidationError


def test_init_creates_a_running_development_task_in_a_nested_project(sdk_home: Path) -> None:
    task = Task.init(project_name="team/vision", task_name="train", tags=["a", "b"])
    assert task.status == "in_progress"
    assert task.get_project_name() == "team/vision"
    assert task.name == "train"
    assert task.data.system_tags == ["development"]
    assert task.get_tags() == ["a", "b"]
    assert task.task_type == Task.TaskTypes.training
    assert Task.current_task() is task
    assert Task.running_locally()
    task.close()
    assert Task.get_task(task.id).status == "completed"
    assert Task.current_task() is None


def test_only_the_task_of_init_is_the_main_task(sdk_home: Path) -> None:
    main = Task.init(project_name="p", task_name="main")
    made = Task.create(project_name="p", task_name="made")
    assert main.is_main_task()
    assert not made.is_main_task()
    assert not Task.get_task(main.id).is_main_task()  # another object of the same task
    main.close()
    assert not main.is_main_task()


def test_init_twice_returns_the_open_task_and_a_new_one_after_close(sdk_home: Path) -> None:
    first = Task.init("p", "one")
    assert Task.init("p", "other") is first
    first.close()
    second = Task.init("p", "two")
    assert second.id != first.id
    assert second.name == "two"


def test_init_records_the_running_script(sdk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # This file is the running script, whoever started the interpreter (an xdist worker has none).
    monkeypatch.setattr(sys.modules["__main__"], "__file__", __file__, raising=False)
    task = Task.init("p", "script")
    script = task.data.script
    assert script["binary"]
    assert "entry_point" in script and "code" in script


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("project_name", 3),
        ("task_name", ["x"]),
        ("task_type", "nonsense"),
        ("tags", "one-tag"),
        ("output_uri", 5),
    ],
)
def test_init_rejects_wrong_argument_types_naming_the_argument(
    sdk_home: Path, argument: str, value: object
) -> None:
    with pytest.raises(ValidationError, match=argument.split("_")[0] if argument != "tags" else "tags"):
        Task.init(**{argument: value})  # type: ignore[arg-type]


def test_init_under_an_agent_returns_that_task_and_starts_it(
    sdk_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = Task.create(project_name="p", task_name="queued-job")
    assert draft.status == "created"
    monkeypatch.setenv("DUCTWORK_TASK_ID", draft.id)
    task = Task.init("ignored", "ignored")
    assert task.id == draft.id
    assert task.status == "in_progress"
    assert not Task.running_locally()
    task.close()
    assert Task.get_task(draft.id).status == "completed"


def test_init_with_an_unknown_task_id_names_it(sdk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ductwork.core.errors import NotFound

    monkeypatch.setenv("DUCTWORK_TASK_ID", "0" * 32)
    with pytest.raises(NotFound, match="0" * 32):
        Task.init("p", "x")


def test_continue_last_task_reopens_it(sdk_home: Path) -> None:
    first = Task.init("p", "resumable")
    first.get_logger().report_scalar("loss", "train", 1.0, 0)
    first.close()
    again = Task.init("p", "resumable", continue_last_task=True)
    assert again.id == first.id
    assert again.status == "in_progress"
    assert again.get_reported_scalars()["loss"]["train"]["y"] == [1.0]


def test_reuse_last_task_id_given_an_id_resets_that_task(sdk_home: Path) -> None:
    first = Task.init("p", "reused")
    first.upload_artifact("x", 1, wait_on_upload=True)
    first.close()
    again = Task.init("p", "reused", reuse_last_task_id=first.id)
    assert again.id == first.id
    assert again.artifacts == {}


def test_activate_gives_each_context_its_own_current_task(sdk_home: Path) -> None:
    main = Task.init("p", "main")
    steps = [Task.create(project_name="p", task_name=f"step{i}") for i in range(3)]
    seen: dict[str, str | None] = {}

    def work(step: Task) -> None:
        with Task._activate(step):
            current = Task.current_task()
            seen[step.id] = current.id if current else None

    threads = [threading.Thread(target=work, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {step.id: step.id for step in steps}
    assert Task.current_task() is main
    with Task._activate(steps[0]):
        assert Task.current_task() is steps[0]
    assert Task.current_task() is main


def test_from_record_with_remote_pulls_values(sdk_home: Path) -> None:
    draft = Task.create(project_name="p", task_name="step")
    draft.set_parameters({"General/epochs": "7"})
    step = Task._from_record(draft.data, remote=True)
    values = step.connect({"epochs": 1})
    assert values == {"epochs": 7}


def test_normal_exit_completes_the_task(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        from ductwork import Task
        task = Task.init("life", "ok")
        print("task", task.id)
        """
    )
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.split()[-1]
    task = Task.get_task(task_id)
    assert task.status == "completed"
    assert any("task " + task_id in line for line in task.get_reported_console_output())


def test_uncaught_exception_fails_the_task_with_its_traceback(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        from ductwork import Task
        task = Task.init("life", "boom")
        print("task", task.id, flush=True)
        def explode():
            raise RuntimeError("the model diverged")
        explode()
        """
    )
    assert done.returncode == 1
    task = Task.get_task(done.stdout.split()[-1])
    assert task.status == "failed"
    assert "RuntimeError: the model diverged" in task.data.status_reason
    assert "in explode" in task.data.status_reason
    assert task.data.status_message.startswith("RuntimeError")
    assert any("the model diverged" in line for line in task.get_reported_console_output(5))


def test_sys_exit_with_an_error_code_fails_the_task(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        import sys
        from ductwork import Task
        task = Task.init("life", "exit3")
        print("task", task.id, flush=True)
        sys.exit(3)
        """
    )
    assert done.returncode == 3
    task = Task.get_task(done.stdout.split()[-1])
    assert task.status == "failed"
    assert task.data.status_message == "exit code 3"


def test_keyboard_interrupt_stops_the_task(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        from ductwork import Task
        task = Task.init("life", "ctrl-c")
        print("task", task.id, flush=True)
        raise KeyboardInterrupt
        """
    )
    assert done.returncode != 0
    assert Task.get_task(done.stdout.split()[-1]).status == "stopped"


def test_sigterm_stops_the_task(run_script, sdk_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        import os, signal
        from ductwork import Task
        task = Task.init("life", "terminated")
        print("task", task.id, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    task = Task.get_task(done.stdout.split()[-1])
    assert task.status == "stopped"
    assert "signal 15" in task.data.status_reason


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("auto_connect_streams", "yes"),
        ("auto_connect_frameworks", 1),
        ("auto_connect_arg_parser", "on"),
        ("auto_resource_monitoring", 5),
    ],
)
def test_bad_switches_are_refused_before_any_task_exists(
    sdk_home: Path, argument: str, value: object
) -> None:
    with pytest.raises(ValidationError, match=argument):
        Task.init("p", "bad switch", **{argument: value})  # type: ignore[arg-type]
    assert Task.get_tasks(project_name="p") == []


def test_resource_monitoring_reports_cpu_and_memory(sdk_home: Path) -> None:
    task = Task.init("p", "monitored", auto_resource_monitoring={"report_frequency_sec": 0.05})
    sum(i * i for i in range(200_000))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reported = task.get_reported_scalars().get(":monitor:machine", {})
        if {"cpu_usage", "process_memory_gb"} <= set(reported):
            break
        time.sleep(0.05)
    assert reported["process_memory_gb"]["y"][0] > 0.001
    assert reported["cpu_usage"]["y"][0] >= 0
    with pytest.raises(ValidationError, match="report_frequency_sec"):
        from ductwork.sdk.capture import resources

        resources.check({"report_frequency_sec": 0})
    task.close()
    assert task._monitor is None


def test_no_resource_monitoring(sdk_home: Path) -> None:
    task = Task.init("p", "unmonitored", auto_resource_monitoring=False)
    assert task._monitor is None


def test_a_forked_child_does_not_end_the_parents_task(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        import os, sys
        from ductwork import Task
        task = Task.init("life", "forking parent")
        print("task", task.id, flush=True)
        child = os.fork()
        if child == 0:
            sys.exit(0)  # runs the inherited atexit handlers
        os.waitpid(child, 0)
        print("status after child", Task.get_task(task.id).status, flush=True)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "status after child in_progress" in done.stdout
    task_id = done.stdout.split("task ")[1].split()[0]
    assert Task.get_task(task_id).status == "completed"
