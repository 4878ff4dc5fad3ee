"""A step's printed output reaches the store whatever bytes it holds: a NUL (which no
PostgreSQL text and no bounded store field can hold) is kept visibly as U+2400."""

from __future__ import annotations

from tests.pipelines.conftest import backend

from ductwork import PipelineController
from ductwork.core.records import NUL_SIGN, ConsoleLine


def shout():
    print("before\x00after")
    return 1


def test_a_nul_printed_by_a_local_step_is_stored_visibly(home) -> None:
    pipe = PipelineController(name="nul", project="tests", version="1.0.0")
    pipe.add_function_step(name="shout", function=shout, function_return=["one"])
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert pipe.is_successful()
    step = pipe.get_pipeline_dag()["shout"].executed
    lines = [line.text for line in backend().get_console(step)]
    assert f"before{NUL_SIGN}after" in lines, lines


def test_storable_keeps_clean_lines_and_marks_the_rest() -> None:
    clean = ConsoleLine("t", "plain ✓ text")
    assert clean.storable() is clean
    assert ConsoleLine("t", "a\x00b").storable().text == f"a{NUL_SIGN}b"
    assert ConsoleLine("t", "bad \udcff byte").storable().text == "bad \\udcff byte"


def leave_a_sleeper(pid_file):
    import subprocess

    sleeper = subprocess.Popen(["sleep", "1000"])  # inherits the step's stdout and stderr
    with open(pid_file, "w") as out:
        out.write(str(sleeper.pid))
    return 1


def test_a_background_process_a_local_step_leaves_does_not_hold_its_end(home, tmp_path) -> None:
    import os
    import signal

    pid_file = tmp_path / "sleeper.pid"
    pipe = PipelineController(name="sleeper", project="tests", version="1.0.0")
    pipe.add_function_step(
        name="leave",
        function=leave_a_sleeper,
        function_kwargs={"pid_file": str(pid_file)},
        function_return=["one"],
    )
    try:
        pipe.start_locally(run_pipeline_steps_locally=True)  # before: waited for the sleeper's 1000 s
        assert pipe.is_successful()
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
