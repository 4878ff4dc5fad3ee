"""What the browser tests share: the live server handles, the gated pipeline, screenshots."""

from __future__ import annotations

import json
import subprocess
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machines import Machine
from machines import Server as MachineServer

ARTIFACTS = Path(__file__).parents[3] / "test-artifacts"
WEB_RUNS = Path(__file__).parents[2] / "integration" / "web" / "web_runs.py"


@dataclass
class Server:
    url: str
    store: Any
    home: Path
    _uvicorn: Any
    _thread: threading.Thread


@dataclass
class TeamServer:
    """`ductwork server` with logins on a machine of its own (tests/machines.py), and alice's
    laptop, another machine, whose processes record runs through HTTP only: what the browser
    shows lives on the server alone."""

    server: MachineServer
    laptop: Machine

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api(self) -> Any:
        """The server's admin, over HTTP (for the test to check what the pages did)."""
        return self.server.api

    def make_run(self, code: str) -> Any:
        """Run `code` on the laptop, where `backend` is its HTTP backend and web_runs'
        `make_run`, `Param` and `MetricEvent` are at hand; `code` binds `run`, answered here."""
        from web_runs import Run

        script = LAPTOP_RUN.replace("# CODE\n", textwrap.dedent(code))
        return Run(**json.loads(self.laptop.run(script).splitlines()[-1]))


# On the laptop: web_runs.py copied beside the script, the backend from DUCTWORK_API_URL/KEY.
LAPTOP_RUN = textwrap.dedent(
    """
    import dataclasses, json

    from ductwork import client
    from ductwork.core.records import ArtifactRecord, MetricEvent, Param
    from web_runs import make_run

    backend = client.backend()
    # CODE
    print(json.dumps(dataclasses.asdict(run)))
    """
)


# A pipeline whose steps wait for gate files, so a test decides when each one finishes.
GATED_PIPELINE = textwrap.dedent(
    """
    from ductwork import PipelineController

    def wait_for_gate(name: str, x: int) -> int:
        import os, time
        print(f"step {name} waiting, x={x}", flush=True)
        gate = os.path.join(os.environ["GATES"], name)
        while not os.path.exists(gate):
            time.sleep(0.02)
        print(f"step {name} done", flush=True)
        return x + 1

    pipe = PipelineController(name="gated", project="web-e2e", version="1.2.0")
    pipe.add_parameter("x", 1)
    pipe.add_parameter("label", "first")
    for step, source, extra in (
        ("prepare", "${pipeline.x}", []),
        ("train", "${prepare.out}", []),
        ("evaluate", "${prepare.out}", []),
        ("report", "${train.out}", ["evaluate"]),
    ):
        pipe.add_function_step(
            step, wait_for_gate, function_kwargs={"name": step, "x": source},
            function_return=["out"], parents=extra or None,
        )
    pipe.start_locally(run_pipeline_steps_locally=True)
    """
)


@dataclass
class GatedRun:
    process: subprocess.Popen[bytes]
    gates: Path
    run_id: str

    def open(self, step: str) -> None:
        (self.gates / step).touch()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path
