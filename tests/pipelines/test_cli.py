"""`ductwork pipelines list|show|resume` as a user runs them, in a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import os, sys
from ductwork import PipelineController

def source():
    return 21

def gate(x, marker):
    import os
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return 2 * x

pipe = PipelineController(name="resumable", project="cli")
pipe.add_function_step("source", source, function_return=["x"])
pipe.add_function_step("gate", gate, function_kwargs={"x": "${source.x}", "marker": sys.argv[1]},
                       function_return=["y"])
pipe.start_locally(run_pipeline_steps_locally=True)
print("RUN", pipe.id)
"""


def ductwork(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DUCTWORK_HOME": str(home), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "ductwork", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_resume_from_the_command_line(ductwork_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "DUCTWORK_HOME": str(ductwork_home)}
    first = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "marker")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run_id = first.stdout.split("RUN ")[1].split()[0]
    shown = ductwork(ductwork_home, "pipelines", "show", run_id)
    assert "first attempt fails" in shown.stdout and "failed" in shown.stdout
    listed = ductwork(ductwork_home, "pipelines", "list")
    assert run_id[:8] in listed.stdout
    resumed = ductwork(ductwork_home, "pipelines", "resume", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"run {run_id} completed" in resumed.stdout
    shown = ductwork(ductwork_home, "pipelines", "show", run_id)
    assert "reused from the earlier attempt" in shown.stdout
    missing = ductwork(ductwork_home, "pipelines", "resume", "f" * 32)
    assert missing.returncode != 0 and "f" * 32 in missing.stderr


LOCAL_MODULE = """
FACTOR = 3

def scale(x):
    return x * FACTOR
"""

USES_LOCAL_MODULE = """
import sys
import mylib
from mylib import scale
from ductwork import PipelineDecorator

@PipelineDecorator.component(return_values=["y"])
def step(x):
    import mylib as again  # imported inside the step too
    return scale(x) + again.scale(1) + mylib.FACTOR

@PipelineDecorator.pipeline(name="local modules", project="cli")
def pipeline(x: int = 2):
    return step(x)

PipelineDecorator.run_locally()
print("RESULT", pipeline(x=int(sys.argv[1])))
"""


def test_local_modules_import_in_step_processes(ductwork_home: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "mylib.py").write_text(textwrap.dedent(LOCAL_MODULE))
    (project / "pipeline.py").write_text(textwrap.dedent(USES_LOCAL_MODULE))
    env = {**os.environ, "DUCTWORK_HOME": str(ductwork_home)}
    elsewhere = tmp_path / "elsewhere"  # run from another folder: the script's folder is what counts
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, str(project / "pipeline.py"), "5"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESULT 21" in done.stdout  # 15 + 3 + 3


def test_installed_imports_of_step_code() -> None:
    from ductwork.pipelines.warming import installed_imports

    source = textwrap.dedent(
        """
        import os
        import numpy as np
        from pandas import DataFrame
        import mylocal

        def f():
            import ductwork
            import json
        """
    )
    assert installed_imports(source) == ["numpy", "pandas"]  # not the standard library, ours or local
    assert installed_imports("def broken(:\n") == []


REMOTE_SCRIPT = """
from ductwork import PipelineController

def step(x: int = 1):
    return x

pipe = PipelineController(name="remote", project="cli")
pipe.set_default_execution_queue("default")
pipe.add_function_step("step", step)
pipe.start()  # to the services queue; this process leaves here, as in ClearML
print("NOT REACHED")
"""


def test_start_without_an_agent_says_so(ductwork_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "remote.py"
    script.write_text(textwrap.dedent(REMOTE_SCRIPT))
    env = {**os.environ, "DUCTWORK_HOME": str(ductwork_home)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "NOT REACHED" not in done.stdout
    assert "no agent listens on queue 'services'" in done.stdout
    from ductwork.client.embedded import open_embedded
    from ductwork.core.queries import TaskQuery

    store = open_embedded(f"sqlite:///{ductwork_home / 'ductwork.db'}")
    run = store.query_tasks(TaskQuery(type=["controller"]))[0]
    assert run.status == "queued" and "ductwork agent --queue services" in run.status_message
    assert any("no agent listens" in line.text for line in store.get_console(run.id))
    assert run.script["code"].startswith("\nfrom ductwork import PipelineController")


ORPHAN_SCRIPT = """
import sys
from ductwork import PipelineDecorator

@PipelineDecorator.component(return_values=["x"])
def long_step(pid_file):
    import os, time
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(120)
    return 1

@PipelineDecorator.pipeline(name="orphans", project="cli")
def pipeline(pid_file: str = ""):
    return long_step(pid_file)

PipelineDecorator.run_locally()
pipeline(pid_file=sys.argv[1])
"""


def test_steps_die_with_a_killed_controller(ductwork_home: Path, tmp_path: Path) -> None:
    import signal
    import time

    script = tmp_path / "orphans.py"
    script.write_text(textwrap.dedent(ORPHAN_SCRIPT))
    pid_file = tmp_path / "step.pid"
    env = {**os.environ, "DUCTWORK_HOME": str(ductwork_home)}
    controller = subprocess.Popen([sys.executable, str(script), str(pid_file)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        step_pid = int(pid_file.read_text())
        controller.send_signal(signal.SIGKILL)
        controller.wait(10)
        deadline = time.monotonic() + 15
        while _alive(step_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(step_pid), "the step process outlived its killed controller"
    finally:
        if controller.poll() is None:
            controller.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"  # a zombie is dead, only not yet reaped
    except FileNotFoundError:
        return False
