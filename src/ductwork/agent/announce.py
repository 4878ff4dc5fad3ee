"""An agent that says one line when it takes a task and one when the task ends.

    took     3fa9c1...  train  queue default
    finished 3fa9c1...  train  queue default  completed  12.40s

`ductwork agent` runs this one unless `--quiet`; what it adds is two log lines per task, no
store call (the task's name and queue come with its claim).
"""

from __future__ import annotations

import time

from ductwork.agent.worker import Agent
from ductwork.core.records import TaskRecord


class AnnouncingAgent(Agent):
    def execute(self, task: TaskRecord, worker_id: str) -> str:
        where = f"{task.id}  {task.name}  queue {task.queue or '-'}"
        self.options.log(f"took     {where}")
        started, outcome = time.monotonic(), "failed (agent error)"
        try:
            outcome = super().execute(task, worker_id)
            return outcome
        finally:
            self.options.log(f"finished {where}  {outcome}  {time.monotonic() - started:.2f}s")
