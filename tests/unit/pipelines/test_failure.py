"""What using a component's missing value raises (pipelines.failure)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ductwork.pipelines import failure
from ductwork.pipelines.node import Node


class Store:
    """Just what failure reads: a task's recorded end."""

    def get_task(self, task_id: str) -> Any:
        return SimpleNamespace(status_reason="", status_message=f"killed on the agent ({task_id})")


def nodes(*specs: tuple[str, str, list[str]]) -> dict[str, Node]:
    made = {}
    for name, status, parents in specs:
        node = Node(name=name, parents=parents)
        node.status, node.job_id = status, f"task-{name}"
        made[name] = node
    return made


def test_a_failure_without_the_engines_message_reports_what_its_task_recorded() -> None:
    dag = nodes(("a", "failed", []))
    error = failure.value_error(Store(), dag, dag["a"])  # type: ignore[arg-type]
    assert str(error).endswith("failed: killed on the agent (task-a)")


def test_a_step_skipped_below_a_skipped_step_names_the_failed_ancestor() -> None:
    dag = nodes(("a", "failed", []), ("b", "skipped", ["a"]), ("c", "skipped", ["b"]))
    dag["a"].error = "RuntimeError: no"
    error = failure.value_error(Store(), dag, dag["c"])  # type: ignore[arg-type]
    assert str(error) == 'Pipeline step "c" was skipped: step "a", Task ID=task-a failed: RuntimeError: no'


def test_a_step_skipped_by_a_callback_stands_for_none() -> None:
    dag = nodes(("a", "completed", []), ("b", "skipped", ["a"]))
    assert failure.value_error(Store(), dag, dag["b"]) is None  # type: ignore[arg-type]
