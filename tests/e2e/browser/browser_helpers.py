"""What the browser tests share: the live server handle, the gated pipeline, screenshots."""

from __future__ import annotations

import subprocess
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).parents[3] / "test-artifacts"


@dataclass
class Server:
    url: str
    store: Any
    home: Path
    _uvicorn: Any
    _thread: threading.Thread


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
