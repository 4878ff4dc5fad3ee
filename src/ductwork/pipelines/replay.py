"""Runs a stored pipeline run: `python -m ductwork.sdk.replay` with `DUCTWORK_TASK_ID` set.

How a pipeline runs as a step of another (its clone is the step's task) and how a run is
resumed elsewhere: the DAG and every function step's code come from the controller task, so the
author's script is not needed. Steps run as local processes when this process is itself a
local-mode step, on their queues otherwise.
"""

from __future__ import annotations

import os
import sys

from ductwork.core import settings


def main() -> int:
    task_id = settings.task_id()
    if not task_id:
        print("ductwork.sdk.replay: DUCTWORK_TASK_ID is not set", file=sys.stderr)
        return 2
    from ductwork import client
    from ductwork.pipelines.controller import PipelineController

    record = client.backend().get_task(task_id)
    pipe = PipelineController._from_task(record)
    local = settings.pipe_address() is not None or os.environ.get("DUCTWORK_REPLAY_MODE") == "local"
    pipe._replay("local" if local else "queue")
    return 0 if pipe.is_successful() else 1


if __name__ == "__main__":
    sys.exit(main())
