"""Finding, creating, cloning, queueing and editing tasks; statuses and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core.errors import NotFound, StatusError, ValidationError


def test_get_task_by_id_and_by_project_and_name(sdk_home: Path) -> None:
    older = Task.create(project_name="find/me", task_name="job")
    newer = Task.create(project_name="find/me", task_name="job")
    Task.create(project_name="find/me", task_name="other")
    assert Task.get_task(task_id=older.id).id == older.id
    assert Task.get_task(project_name="find/me", task_name="job").id == newer.id
    assert Task.get_task(project_name="find/me", task_name="job").name == "job"


def test_get_task_errors_name_what_is_missing(sdk_home: Path) -> None:
    Task.create(project_name="p", task_name="exists")
    with pytest.raises(NotFound, match="f" * 32):
        Task.get_task("f" * 32)
    with pytest.raises(NotFound, match=r"'nope'.*'p'"):
        Task.get_task(project_name="p", task_name="nope")
    with pytest.raises(NotFound):
        Task.get_task(project_name="no-such-project", task_name="exists")
    with pytest.raises(ValidationError, match="task_id"):
        Task.get_task(task_id=123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Task.get_task()


def test_get_tasks_and_query_tasks(sdk_home: Path) -> None:
    a = Task.create(project_name="q", task_name="train-a")
    b = Task.create(project_name="q", task_name="train-b")
    c = Task.create(project_name="q", task_name="eval")
    c.add_tags(["best"])
    assert {t.id for t in Task.get_tasks(project_name="q", task_name="train")} == {a.id, b.id}
    assert {t.id for t in Task.get_tasks(task_ids=[a.id, c.id])} == {a.id, c.id}
    assert Task.query_tasks(project_name="q", tags=["best"]) == [c.id]
    assert set(Task.query_tasks(project_name="q", task_filter={"status": ["created"]})) == {a.id, b.id, c.id}
    rows = Task.query_tasks(project_name="q", task_name="eval", additional_return_fields=["name", "status"])
    assert rows == [{"id": c.id, "name": "eval", "status": "created"}]
    assert Task.query_tasks(project_name="absent") == []
    with pytest.raises(ValidationError, match="task_filter: unknown key 'colour'"):
        Task.query_tasks(task_filter={"colour": "red"})
    with pytest.raises(ValidationError, match="unknown additional_return_fields"):
        Task.query_tasks(additional_return_fields=["nonsense"])


def test_archived_tasks_are_found_only_when_allowed(sdk_home: Path) -> None:
    task = Task.create(project_name="arch", task_name="old")
    task.set_archived(True)
    assert task.get_archived()
    assert Task.get_tasks(project_name="arch", allow_archived=False) == []
    assert [t.id for t in Task.get_tasks(project_name="arch")] == [task.id]
    with pytest.raises(ValidationError, match="archive must be a bool"):
        task.set_archived("yes")  # type: ignore[arg-type]


def test_create_from_a_script_file(sdk_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text('"""Train."""\nfrom __future__ import annotations\nprint("hi")\n')
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy\n")
    task = Task.create(
        project_name="made",
        script=str(script),
        task_type=Task.TaskTypes.data_processing,
        requirements_file=requirements,
        docker="python:3.11",
        docker_args="--shm-size 1g",
        docker_bash_setup_script="apt-get update",
        argparse_args=[("epochs", 3), ("lr", 0.1)],
        repo="https://example.invalid/repo.git",
        branch="main",
    )
    assert task.status == "created"
    assert task.name == "train"
    assert task.task_type == "data_processing"
    code = task.data.script["code"]
    assert code.startswith(
        '"""Train."""\nfrom __future__ import annotations\nfrom ductwork import Task\nTask.init()\n'
    )
    assert code.endswith('print("hi")\n')
    assert task.data.script["entry_point"] == "train.py"
    assert task.data.script["working_dir"] == "."  # the repository root, not a folder of this machine
    assert task.data.script["repository"] == "https://example.invalid/repo.git"
    assert task.data.requirements["pip"] == "numpy\n"
    assert task.data.container == {
        "image": "python:3.11",
        "arguments": "--shm-size 1g",
        "setup_shell_script": "apt-get update",
    }
    assert task.get_parameters(cast=True) == {"Args/epochs": 3, "Args/lr": 0.1}


def test_create_without_init_call_and_bad_input(sdk_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text("print(1)\n")
    assert Task.create(script=str(script), add_task_init_call=False).data.script["code"] == "print(1)\n"
    with pytest.raises(ValidationError, match="is not a file"):
        Task.create(script=str(tmp_path / "absent.py"))
    with pytest.raises(ValidationError, match="task_type"):
        Task.create(task_type="wrong")
    with pytest.raises(ValidationError, match="requirements file"):
        Task.create(requirements_file=str(tmp_path / "none.txt"))


def test_create_from_a_base_task(sdk_home: Path) -> None:
    base = Task.create(project_name="base", task_name="template")
    base.set_parameters({"Args/x": 1})
    made = Task.create(task_name="derived", base_task_id=base.id, argparse_args=[("y", 2)])
    assert made.id != base.id
    assert made.get_parameters(cast=True) == {"Args/x": 1, "Args/y": 2}


def test_clone_copies_inputs_not_outputs(sdk_home: Path) -> None:
    source = Task.init("clone", "source")
    source.connect({"a": 1})
    source.upload_artifact("out", [1, 2], wait_on_upload=True)
    source.close()
    copy = Task.clone(source, comment="try again")
    assert copy.status == "created"
    assert copy.name == "Clone Of source"
    assert copy.parent == source.id
    assert copy.comment == "try again"
    assert copy.get_parameters(cast=True) == {"General/a": 1}
    assert copy.artifacts == {}
    named = Task.clone(source.id, name="second", parent=copy.id)
    assert named.name == "second" and named.parent == copy.id
    with pytest.raises(ValidationError, match="source_task"):
        Task.clone(12)  # type: ignore[arg-type]
    before = len(Task.get_tasks(project_name="clone"))
    with pytest.raises(ValidationError, match="comment"):
        Task.clone(source, comment=["not", "text"])  # type: ignore[arg-type]
    assert len(Task.get_tasks(project_name="clone")) == before


def test_enqueue_and_dequeue(sdk_home: Path) -> None:
    task = Task.create(project_name="queues", task_name="job")
    task._backend.ensure_queue("gpu")
    Task.enqueue(task, queue_name="gpu")
    assert task.status == "queued"
    assert [entry.task_id for entry in task._backend.queue_entries("gpu")] == [task.id]
    Task.dequeue(task)
    assert task.status == "created"
    queue_id = task._backend.get_queue("gpu").id
    Task.enqueue(task.id, queue_id=queue_id)
    assert task.get_status() == "queued"
    with pytest.raises(ValidationError, match="queue_name or queue_id"):
        Task.enqueue(task)
    with pytest.raises(NotFound, match="queue id nope"):
        Task.enqueue(task, queue_id="nope")


def test_enqueue_force_stops_a_running_task_first(sdk_home: Path) -> None:
    task = Task.create(project_name="queues", task_name="running")
    task._backend.ensure_queue("q")
    task.mark_started()
    with pytest.raises(StatusError):
        Task.enqueue(task, queue_name="q")
    Task.enqueue(task, queue_name="q", force=True)
    assert task.status == "queued"


def test_status_changes_and_illegal_ones(sdk_home: Path) -> None:
    task = Task.create(project_name="s", task_name="t")
    task.mark_started()
    assert task.status == "in_progress"
    task.mark_stopped(status_message="user abort")
    assert task.status == "stopped" and task.data.status_message == "user abort"
    with pytest.raises(StatusError, match="stopped -> completed"):
        task.mark_completed()
    task.mark_completed(force=True)
    assert task.get_status() == "completed"
    task.reset()
    assert task.status == "created"
    task.mark_failed(status_reason="bad data")
    assert task.status == "failed" and task.data.status_reason == "bad data"


def test_wait_for_status(sdk_home: Path) -> None:
    task = Task.create(project_name="s", task_name="w")
    task.mark_started()
    task.mark_completed()
    task.wait_for_status()
    failing = Task.create(project_name="s", task_name="f")
    failing.mark_failed(status_reason="boom")
    with pytest.raises(StatusError, match="failed: boom"):
        failing.wait_for_status()
    idle = Task.create(project_name="s", task_name="idle")
    with pytest.raises(TimeoutError):
        idle.wait_for_status(timeout=0.2)


def test_reset_deletes_outputs(sdk_home: Path) -> None:
    task = Task.init("r", "reset me")
    task.upload_artifact("a", {"x": 1}, wait_on_upload=True)
    task.get_logger().report_scalar("l", "s", 1, 0)
    task.flush()
    task.reset(force=True)
    assert task.status == "created"
    assert task.artifacts == {}
    assert task.get_reported_scalars() == {}


def test_delete(sdk_home: Path) -> None:
    task = Task.create(project_name="d", task_name="gone")
    assert task.delete()
    with pytest.raises(NotFound, match=task.id):
        Task.get_task(task.id)


def test_tags_comment_parent_progress_runtime(sdk_home: Path) -> None:
    parent = Task.create(project_name="f", task_name="parent")
    task = Task.create(project_name="f", task_name="child")
    task.add_tags("one")
    task.add_tags(["two", "one"])
    assert task.get_tags() == ["one", "two"]
    task.set_tags(["x"])
    assert task.get_tags() == ["x"]
    task.set_system_tags(["pipeline"])
    assert task.get_system_tags() == ["pipeline"]
    task.comment = "hello"
    assert Task.get_task(task.id).comment == "hello"
    task.set_parent(parent)
    assert task.parent == parent.id
    with pytest.raises(ValidationError, match="own parent"):
        task.set_parent(task)
    with pytest.raises(NotFound):
        task.set_parent("e" * 32)
    task.set_progress(40)
    assert task.get_progress() == 40
    with pytest.raises(ValidationError, match=r"0\.\.100"):
        task.set_progress(101)
    task.set_runtime_properties({"gpu": "A100"})
    task.set_runtime_properties({"host": "h1"})
    assert task.get_runtime_properties() == {"gpu": "A100", "host": "h1"}
    task.name = "renamed"
    assert Task.get_task(task.id).name == "renamed"
    with pytest.raises(ValidationError, match="tags"):
        task.add_tags([1])  # type: ignore[list-item]


def test_script_docker_packages(sdk_home: Path) -> None:
    task = Task.create(project_name="f", task_name="env")
    task.set_base_docker("nvidia/cuda:12 --gpus all", docker_setup_bash_script=["a", "b"])
    assert task.data.container == {
        "image": "nvidia/cuda:12",
        "arguments": "--gpus all",
        "setup_shell_script": "a\nb",
    }
    task.set_packages(["numpy==2.0", "pandas"])
    assert task.data.requirements["pip"] == "numpy==2.0\npandas"
    task.set_script(repository="git@x:y.git", commit="abc", entry_point="run.py")
    assert task.data.script["commit"] == "abc" and task.data.script["entry_point"] == "run.py"
    with pytest.raises(ValidationError, match="commit"):
        task.set_script(commit=5)  # type: ignore[arg-type]


def test_execute_remotely_without_queue_leaves_a_draft_and_exits(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        from ductwork import Task
        task = Task.init("remote", "template")
        print("task", task.id, flush=True)
        task.connect({"lr": 0.1})
        task.execute_remotely()
        print("never printed")
        """
    )
    assert done.returncode == 0, done.stderr
    assert "never printed" not in done.stdout
    task = Task.get_task(done.stdout.split("task ")[1].split()[0])
    assert task.status == "created"
    assert "development" not in task.data.system_tags
    assert task.get_parameters(cast=True) == {"General/lr": 0.1}


def test_execute_remotely_with_a_queue_enqueues(run_script, sdk_home: Path) -> None:  # type: ignore[no-untyped-def]
    from ductwork import client

    client.backend().ensure_queue("workers")
    done = run_script(
        """
        from ductwork import Task
        task = Task.init("remote", "queued")
        print("task", task.id, flush=True)
        task.execute_remotely(queue_name="workers")
        """
    )
    assert done.returncode == 0, done.stderr
    task = Task.get_task(done.stdout.split("task ")[1].split()[0])
    assert task.status == "queued"
    assert task.data.queue == "workers"


def test_execute_remotely_under_an_agent_is_a_no_op(sdk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draft = Task.create(project_name="remote", task_name="agent")
    monkeypatch.setenv("DUCTWORK_TASK_ID", draft.id)
    task = Task.init()
    assert task.execute_remotely(queue_name="anything") is None
    assert task.status == "in_progress"


def test_execute_remotely_with_a_missing_queue_changes_nothing(sdk_home: Path) -> None:
    task = Task.init("remote", "bad queue")
    with pytest.raises(NotFound, match="nowhere"):
        task.execute_remotely(queue_name="nowhere")
    assert task.get_status() == "in_progress"


def test_execute_remotely_with_clone_enqueues_a_copy_and_keeps_running(sdk_home: Path) -> None:
    task = Task.init("remote", "keeps running")
    task.connect({"lr": 0.1})
    task._backend.ensure_queue("q")
    copy = task.execute_remotely(queue_name="q", clone=True, exit_process=False)
    assert copy is not None and copy.id != task.id
    assert copy.get_status() == "queued"
    assert copy.get_parameters(cast=True) == {"General/lr": 0.1}
    assert "development" not in copy.get_system_tags()
    assert task.get_status() == "in_progress"
    assert Task.current_task() is task


@pytest.mark.parametrize(
    "arguments",
    [
        {"script": "/no/such/script.py"},
        {"requirements_file": "/no/such/requirements.txt"},
        {"argparse_args": [("only-a-name",)]},
        {"repo": 42},
        {"packages": "numpy"},
    ],
)
def test_create_with_bad_input_leaves_no_task(sdk_home: Path, arguments: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Task.create(project_name="clean", task_name="bad", **arguments)  # type: ignore[arg-type]
    assert Task.get_tasks(project_name="clean") == []
