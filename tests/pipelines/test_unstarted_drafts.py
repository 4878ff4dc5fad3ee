"""A pipeline that never starts leaves no draft behind in the runs list (issue 16, finding 5).

Its controller task exists from the constructor on, so before: a run refused by its checks (a
missing parent, an unknown reference) or a script that raised while adding steps stayed a
`created` draft forever. Now the first ends failed at once with the refusal, the second when its
process ends, with the exception; a draft saved on purpose (`create_draft`) stays one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from ductwork.core.queries import TaskQuery

HEAD = textwrap.dedent(
    """
    from ductwork import PipelineController

    def f(x):
        return x

    pipe = PipelineController(name=NAME, project="drafts", version="1.0.0")
    pipe.add_parameter("x", 1)
    """
)

SCRIPTS = {
    "missing parent": """
pipe.add_function_step(name="a", function=f, function_kwargs={"x": 1}, parents=["nowhere"])
pipe.start_locally(run_pipeline_steps_locally=True)
""",
    "unknown reference": """
pipe.add_function_step(name="a", function=f, function_kwargs={"x": "${pipeline.y}"})
pipe.start_locally()
""",
    "raised while building": """
raise RuntimeError("the data folder is missing")
""",
    "never started": """
pipe.add_function_step(name="a", function=f, function_kwargs={"x": 1})
""",
    "saved as a draft": """
pipe.add_function_step(name="a", function=f, function_kwargs={"x": 1})
pipe.create_draft()
""",
}


def _controllers(home: Path) -> dict[str, tuple[str, str]]:
    from ductwork.store import Store

    store = Store(f"sqlite:///{home / 'ductwork.db'}")
    try:
        found = store.query_tasks(TaskQuery(type=["controller"], archived=None))
        return {t.name: (t.status, t.status_message) for t in found}
    finally:
        store.close()


def test_runs_that_never_start_end_failed_with_the_reason(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"DUCTWORK_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    for name, body in SCRIPTS.items():
        script = tmp_path / f"{name.replace(' ', '_')}.py"
        script.write_text(f"NAME = {name!r}\n" + HEAD + body)
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert (done.returncode == 0) == (name in ("never started", "saved as a draft")), done.stderr

    runs = _controllers(home)

    assert runs["missing parent"] == (
        "failed",
        "refused before it started: step 'a' has unknown parent 'nowhere'",
    )
    status, message = runs["unknown reference"]
    assert status == "failed" and message.startswith("refused before it started:") and "pipeline.y" in message
    ended = "never started: the process that defined it ended before start()"
    assert runs["raised while building"] == ("failed", f"{ended}: RuntimeError: the data folder is missing")
    assert runs["never started"] == (
        "failed",
        "never started: the process that defined it ended before start()",
    )
    assert runs["saved as a draft"] == ("created", "")
