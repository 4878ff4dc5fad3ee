"""Pipelines of the three kinds run on separate machines (tests/machines.py).

A cluster is a server, three agents and two clients, each its own machine:

* `services`: an agent serving queue `services` (four controllers at once);
* `alpha` and `beta`: agents serving queues `alpha` and `beta`. Every pipeline in
  tests/e2e/many_machines/ chains `make` (alpha) -> `square` (beta) -> `summarize` (alpha), so
  each step reads its input from another machine;
* `laptop`: the user's machine; the pipeline scripts are copied there only, run from there,
  and in the `local` shape its process is the controller;
* `reader`: another user's machine with a home of its own, which reads the final outputs.

With S3 storage the server's default storage is a bucket; the server and the agents hold AWS
credentials, the laptop and the reader none (they reach stored objects through the server).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machines import Machine, Machines, Server

SCRIPTS = Path(__file__).resolve().parent / "e2e" / "many_machines"
KINDS = {
    "function": "function_pipeline.py",
    "decorator": "decorator_pipeline.py",
    "tasks": "task_pipeline.py",
}
SHAPES = ("local", "remote")
# Which agent runs each step: consecutive steps on different machines.
STEP_AGENTS = {"make": "alpha", "square": "beta", "summarize": "alpha"}

# Run on the reader: each argument `<task id>:<artifact>`, answered as JSON (arrays as lists).
READ_OUTPUTS = """
import json, sys

from ductwork import Task

def value(task_id, name):
    found = Task.get_task(task_id=task_id).artifacts[name].get()
    return {"type": type(found).__name__, "value": found.tolist() if hasattr(found, "tolist") else found}

print(json.dumps({argument: value(*argument.split(":")) for argument in sys.argv[1:]}))
"""


@dataclass
class Cluster:
    machines: Machines
    server: Server
    laptop: Machine
    reader: Machine
    storage: str  # where the server's default storage keeps stored files (a bucket prefix or a folder)

    def run(self, kind: str, shape: str, count: int) -> Any:
        """Run pipeline `kind` in `shape` from the laptop; answers its controller task, final."""
        if kind == "tasks":
            self.laptop.copy(SCRIPTS / "tasks")
            self.laptop.run(SCRIPTS / "templates.py", shape)
        self.laptop.run(SCRIPTS / KINDS[kind], shape, str(count))
        run = self.server.controller(f"{kind} {shape}")
        return self.server.wait_final(run.id)

    def read(self, *outputs: tuple[str, str]) -> dict[str, Any]:
        """Artifacts `(task id, name)` as the reader sees them: `{"<id>:<name>": {type, value}}`."""
        answer = self.reader.run(READ_OUTPUTS, *(f"{task}:{name}" for task, name in outputs))
        return dict(json.loads(answer))

    def explain(self, run_id: str) -> str:
        """The consoles of a run and of its steps that did not complete, for a failure message."""
        api = self.server.api
        tasks = [api.get_task(run_id), *self.server.steps(run_id).values()]
        parts = []
        for task in tasks:
            if task.id == run_id or task.status != "completed":
                console = "\n".join(line.text for line in api.get_console(task.id))
                parts.append(
                    f"--- {task.name} ({task.status}: {task.status_message}) on {task.worker}\n{console}"
                )
        return "\n".join(parts)


def start_cluster(machines: Machines, *, db: str = "sqlite", s3: Any = None) -> Cluster:
    """A server (on SQLite or PostgreSQL; default storage in its home, or in a new bucket of
    S3 server `s3`), agents `services`, `alpha`, `beta` and clients `laptop`, `reader`."""
    with_keys = s3.aws_variables() if s3 else {}
    without_keys = s3.aws_variables(credentials=False) if s3 else {}
    bucket = f"{s3.bucket()}/artifacts" if s3 else None
    server = machines.server(db=db, artifacts_uri=bucket, **with_keys)
    machines.agent("services", queues=["services"], services=4, **with_keys)
    for name in ("alpha", "beta"):
        machines.agent(name, queues=[name], **with_keys)
    return Cluster(
        machines,
        server,
        laptop=machines.client("laptop", **without_keys),
        reader=machines.client("reader", **without_keys),
        storage=bucket or str(server.machine.home / "artifacts"),
    )


def expected_outputs(count: int, label: str) -> tuple[list[float], dict[str, Any]]:
    """What `square` stores as `squares` and `summarize` as `summary`, computed here."""
    values = [3.0 + i for i in range(count)]
    squares = [v * v for v in values]
    summary = {"label": label, "sum_of_squares": sum(squares), "total": sum(values), "count": count}
    return squares, summary
