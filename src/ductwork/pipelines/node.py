"""`PipelineController.Node`: one step of a pipeline, its definition and its live state.

The serialisable fields are the `Pipeline` configuration object's per-step schema (what the
UI draws and what a rerun rebuilds from); the callables stay in memory only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Fields written to the `Pipeline` configuration object (the rest are process-local).
STORED = (
    "base_task_id",
    "queue",
    "parents",
    "timeout",
    "parameters",
    "configurations",
    "task_overrides",
    "executed",
    "status",
    "clone_task",
    "job_type",
    "job_started",
    "job_ended",
    "job_code_section",
    "skip_job",
    "cache_executed_step",
    "return_artifacts",
    "monitor_metrics",
    "monitor_artifacts",
    "monitor_models",
    "explicit_docker_image",
    "recursively_parse_parameters",
    "output_uri",
    "draft",
    "continue_on_fail",
    "continue_on_abort",
    "skip_children_on_abort",
    "skip_children_on_fail",
    "stage",
    "job_id",
    "attempt",
    "cache_note",
)


@dataclass
class Node:
    name: str
    base_task_id: str | None = None
    task_factory_func: Callable[..., Any] | None = None
    queue: str | None = None
    parents: list[str] = field(default_factory=list)
    timeout: float | None = None  # seconds (`time_limit`)
    parameters: dict[str, Any] = field(default_factory=dict)  # "Section/key" -> value
    configurations: dict[str, Any] = field(default_factory=dict)
    task_overrides: dict[str, Any] = field(default_factory=dict)
    executed: str | None = None  # the task that ran (or was reused from the cache)
    status: str = "pending"
    clone_task: bool = True
    job: Any = None  # the live handle of the running attempt
    job_type: str | None = None
    job_started: float | None = None
    job_ended: float | None = None
    job_code_section: str | None = None
    skip_job: bool = False
    cache_executed_step: bool = False
    return_artifacts: list[str] = field(default_factory=list)
    monitor_metrics: list[Any] = field(default_factory=list)
    monitor_artifacts: list[Any] = field(default_factory=list)
    monitor_models: list[Any] = field(default_factory=list)
    explicit_docker_image: str | None = None
    recursively_parse_parameters: bool = False
    output_uri: str | None = None
    draft: bool = False
    continue_behaviour: dict[str, bool] | None = None
    continue_on_fail: bool = False
    continue_on_abort: bool = False
    skip_children_on_abort: bool = True
    skip_children_on_fail: bool = True
    stage: str | None = None
    # ours
    job_id: str | None = None  # the current attempt's task id
    attempt: int = 0
    cache_note: str = ""
    cache_key: str = ""
    function: Callable[..., Any] | None = None  # function steps: the user's function
    code: Any = None  # function steps: `codegen.Captured`
    capture_error: str = ""  # why the code could not be captured (then it runs in debug mode only)
    task_name: str | None = None
    project_name: str | None = None
    tags: list[str] = field(default_factory=list)
    packages: list[str] | None = None
    container: dict[str, Any] = field(default_factory=dict)
    working_dir: str | None = None
    retry: Callable[..., bool] | int | None = None
    pre_execute_callback: Callable[..., Any] | None = None
    post_execute_callback: Callable[..., Any] | None = None
    status_change_callback: Callable[..., Any] | None = None
    component: bool = False  # a decorator component call: live `args`/`kwargs`
    args: tuple[Any, ...] = ()  # decorator components: positional arguments
    kwargs: dict[str, Any] = field(default_factory=dict)  # decorator components: live arguments
    result: Any = None  # debug mode: the value returned in memory
    error: str = ""

    def __post_init__(self) -> None:
        if self.continue_behaviour is not None:
            # Unlike ClearML, keys left out keep their documented defaults.
            behaviour = self.continue_behaviour
            self.continue_on_fail = behaviour.get("continue_on_fail", self.continue_on_fail)
            self.continue_on_abort = behaviour.get("continue_on_abort", self.continue_on_abort)
            self.skip_children_on_fail = behaviour.get("skip_children_on_fail", self.skip_children_on_fail)
            self.skip_children_on_abort = behaviour.get("skip_children_on_abort", self.skip_children_on_abort)
            self.continue_behaviour = None

    @property
    def is_function(self) -> bool:
        return self.function is not None or self.job_code_section is not None

    def to_dict(self) -> dict[str, Any]:
        """The node's entry in the `Pipeline` configuration object."""
        out = {name: getattr(self, name) for name in STORED}  # serialised at once, never kept
        out["job_id"] = self.job_id or self.executed
        return out

    def copy(self) -> Node:
        """A fresh definition: same configuration, no run state."""
        new = copy.copy(self)
        for name in ("parents", "parameters", "configurations", "task_overrides", "tags", "return_artifacts"):
            setattr(new, name, copy.deepcopy(getattr(self, name)))
        new.job = new.executed = new.job_id = None
        new.status, new.attempt, new.result, new.error = "pending", 0, None, ""
        new.job_started = new.job_ended = None
        new.skip_job = False
        return new
