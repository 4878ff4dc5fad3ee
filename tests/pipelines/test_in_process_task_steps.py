"""`start_locally(in_process=True)` with a step made from an existing task: the function steps
are called in this process, the task step runs as a local process (issue 13, item 11)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from ductwork import PipelineController, Task


def report_pid(pid_file: str, word: str) -> str:
    from pathlib import Path

    Path(pid_file).write_text(str(__import__("os").getpid()))
    return word + "!"


def test_a_task_step_runs_as_a_process_and_a_function_step_in_this_one(home: Path, tmp_path: Path) -> None:
    script = tmp_path / "step_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from ductwork import Task
            task = Task.init(project_name="tests", task_name="template")
            args = {"word": "x"}
            task.connect(args)
            task.upload_artifact("pid", os.getpid())
            task.upload_artifact("word", args["word"] * 2)
            """
        )
    )
    template = Task.create(project_name="tests", task_name="template", script=str(script))
    pipe = PipelineController(name="mixed", project="tests")
    pipe.add_step(name="made", base_task_id=template.id, parameter_override={"General/word": "ab"})
    pipe.add_function_step(
        name="called",
        function=report_pid,
        function_kwargs={"pid_file": str(tmp_path / "pid"), "word": "${made.id}"},
        function_return=["said"],
    )
    pipe.start_locally(in_process=True)
    assert pipe.is_successful(), [n.error for n in pipe.get_pipeline_dag().values()]
    dag = pipe.get_pipeline_dag()
    assert dag["called"].parents == ["made"]
    made = Task.get_task(task_id=dag["made"].executed)
    assert made.artifacts["word"].get() == "abab"
    assert made.artifacts["pid"].get() != os.getpid()  # a child process
    assert (tmp_path / "pid").read_text() == str(os.getpid())  # a call in this process
    called = Task.get_task(task_id=dag["called"].executed)
    assert called.artifacts["said"].get() == made.id + "!"
