"""A debug step's start, checked once: its new task and its parameters as rows, checked and
encoded by the store when the step starts (`Store.hold_start`), written later in bulk with other
steps' (`Store.batch_held`) without being checked again.

The rows are a snapshot: what the step does to its record meanwhile goes through the store's
own calls, each checked. Only a `HeldStart` this store made is written this way, and no transport
serves either call to another process (`Store.process_only`), so nothing unchecked is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.records import Param, TaskRecord
from ductwork.core.states import TaskStatus
from ductwork.store import params, tasks
from ductwork.store.sql import Conn


@dataclass(frozen=True)
class HeldStart:
    task_id: str
    task: dict[str, Any]  # the task's row, checked and encoded
    params: list[dict[str, Any]]  # its parameters' rows, checked and encoded

    def completed(self, ended: float) -> HeldStart:
        """The start of a step that has ended too: its task created `completed` at once."""
        row = {**self.task, "status": TaskStatus.completed.value, "ended": ended}
        return HeldStart(self.task_id, row, self.params)


def hold(record: TaskRecord, values: dict[str, Param], dialect: str) -> HeldStart:
    """`record` and `values` as the rows `create_task` and `set_parameters` would write; a
    ValidationError names what either would refuse."""
    row = tasks.checked_row(record, dialect)[1]
    return HeldStart(record.id, row, params.rows_of(record.id, values))


def write(conn: Conn, starts: Sequence[HeldStart]) -> None:
    if not all(type(start) is HeldStart for start in starts):
        raise ValidationError("batch_held takes only the starts hold_start made")
    tasks.insert_rows(conn, [start.task for start in starts])
    params.insert_rows(conn, [row for start in starts for row in start.params])
    conn.fresh.update(start.task_id for start in starts)  # their results, written next, touch none
