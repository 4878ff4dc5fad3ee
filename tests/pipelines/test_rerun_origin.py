"""What a pipeline's controller task records so that a NEW RUN can rebuild it, by what started it.

* the user's own script: the script (ClearML's behaviour);
* anything else (the CLI, `python -c`, a notebook, pytest) with a @pipeline function importable
  from an installed module: `python -m ductwork.pipelines.rebuild MODULE:NAME --mode MODE`;
* a PipelineController outside a script: its stored DAG (`ductwork.sdk.replay`);
* a @pipeline function no other process can import: the reason, which the API and UI give.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ductwork.core import launch
from ductwork.core.errors import Conflict, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.pipelines import origin


def _controllers(store: object) -> list[object]:
    return list(store.query_tasks(TaskQuery(type=["controller"], archived=None)))  # type: ignore[attr-defined]


def test_an_installed_pipeline_function_is_rebuilt_by_module_and_name() -> None:
    from ductwork.demo_pipeline import model_search

    script = origin.script_for(model_search.__wrapped__, "local", "cpu")
    assert script == {
        "module": launch.REBUILD,
        "args": ["ductwork.demo_pipeline:model_search", "--mode", "local", "--queue", "cpu"],
    }
    assert launch.rerun_refusal(script) == ""


def test_a_function_no_other_process_can_import_records_why() -> None:
    def nested() -> None: ...

    why = launch.rerun_refusal(origin.script_for(nested, "remote", None))
    assert (
        "started outside a script" in why
        and "'test_a_function_no_other_process_can_import_records_why" in why
    )
    nested.__module__ = "__main__"
    nested.__qualname__ = "nested"
    assert "(__main__)" in launch.rerun_refusal(origin.script_for(nested, "remote", None))


def test_a_function_in_a_file_of_this_machine_only_records_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = """
import functools

def wrap(function):
    @functools.wraps(function)
    def run():
        return function()
    return run

def plain():
    return 1

@wrap
def pipe():
    return 1
"""
    (tmp_path / "my_pipes.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_pipes  # type: ignore[import-not-found]

    why = origin.script_for(my_pipes.pipe.__wrapped__, "local", None)[launch.CANNOT_RERUN]
    assert "my_pipes.py" in why and "not an installed module" in why
    # A module attribute that is not the @pipeline wrapper of the function is no way back to it.
    assert (
        "is not the @pipeline function"
        in origin.script_for(my_pipes.plain, "local", None)[launch.CANNOT_RERUN]
    )


def test_rerun_refusal_and_the_launch_plan_name_the_reason() -> None:
    assert launch.rerun_refusal({"module": launch.REPLAY}) == ""
    assert launch.rerun_refusal({"code": "print(1)", "entry_point": "x.py"}) == ""
    assert launch.rerun_refusal({"working_dir": "."}) == ""  # made by hand: its agent says what is missing
    blocked = {launch.CANNOT_RERUN: "its function lives in a notebook", "working_dir": "."}
    assert launch.rerun_refusal(blocked) == "its function lives in a notebook"
    with pytest.raises(ValidationError, match="has no code to run \\(its function lives in a notebook\\)"):
        launch.plan("t1", blocked, folder="/tmp/work", exists=lambda _: True)


def _run_here(code: str, home: Path, *args: str, script: Path | None = None) -> str:
    argv = [sys.executable, str(script)] if script else [sys.executable, "-c", code]
    env = {"DUCTWORK_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run([*argv, *args], env=env, capture_output=True, text=True, timeout=120, cwd=home)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# A decorator pipeline as `python -c` or a notebook holds it: nothing else can import it.
INLINE_PIPELINE = textwrap.dedent(
    """
    from ductwork import PipelineDecorator

    @PipelineDecorator.component(return_values=["doubled"])
    def double(x: int) -> int:
        return 2 * x

    @PipelineDecorator.pipeline(name="inline", project="rerun origin", version="1.0.0")
    def inline(x: int = 1):
        return double(x)

    PipelineDecorator.debug_pipeline()
    print(inline())
    """
)


def test_what_each_origin_records(tmp_path: Path) -> None:
    from ductwork.store import Store

    home = tmp_path / "home"
    home.mkdir()
    script = home / "my_pipeline.py"
    script.write_text(INLINE_PIPELINE)
    _run_here("", home, "--flag", script=script)
    _run_here(INLINE_PIPELINE, home)
    _run_here("from ductwork.demo_pipeline import run; run('debug')", home)
    store = Store(f"sqlite:///{home / 'ductwork.db'}")
    try:
        scripts = {  # runs after the first of a name are numbered: "here #2"
            (t.name.split(" #")[0], t.script.get("entry_point", "")): t.script  # type: ignore[attr-defined]
            for t in _controllers(store)
        }
    finally:
        store.close()
    by_script = scripts[("inline", "my_pipeline.py")]
    assert by_script["code"] == INLINE_PIPELINE and by_script["args"] == ["--flag"]
    inline = scripts[("inline", "")]
    assert "module" not in inline and "__main__" in inline[launch.CANNOT_RERUN]
    demo = scripts[("model search", "")]
    assert demo["module"] == launch.REBUILD and demo["args"][-2:] == ["--mode", "debug"]
    assert json.dumps(list(scripts.values()))  # plain JSON, as stored


def test_a_controller_outside_a_script_replays_its_stored_dag(home: Path) -> None:
    from ductwork.pipelines.controller import PipelineController

    pipe = PipelineController(name="data only", project="origin", version="1.0.0")
    assert pipe._task.script["module"] == launch.REPLAY  # pytest is no script of the user's
    assert launch.rerun_refusal(pipe._task.script) == ""


def test_new_run_of_a_refused_run_creates_nothing(ductwork_home: Path) -> None:
    from ductwork.core import settings
    from ductwork.core.records import TaskRecord, TaskTypes
    from ductwork.core.runformat import PIPELINE_TAG
    from ductwork.server.services import runs
    from ductwork.server.services.hub import Hub
    from ductwork.store import Store

    store = Store(settings.db_url())
    try:
        why = "it was started outside a script and its pipeline function 'f' is defined in __main__"
        record = TaskRecord(
            name="refused",
            type=TaskTypes.controller,
            system_tags=[PIPELINE_TAG],
            script={"working_dir": ".", launch.CANNOT_RERUN: why},
        )
        run = store.create_task(record)
        before = store.count_tasks(TaskQuery(archived=None, type=None))
        hub = Hub(store=store, artifacts_root=settings.artifacts_uri(), owns_store=False)
        with pytest.raises(Conflict, match=f"cannot be run again: {why}"):
            runs.new_run(hub, run.id, {})
        assert store.count_tasks(TaskQuery(archived=None, type=None)) == before
        assert store.list_queues() == []
    finally:
        store.close()
