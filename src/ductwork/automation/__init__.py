"""ClearML's `clearml.automation`: the schedulers, and the pipeline classes ClearML scripts
import from here. Everything is imported on first use, so `import ductwork.automation` stays
light (a scheduler pulls in the Task API; the pipeline classes the pipeline system)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ductwork.automation.scheduler import TaskScheduler
    from ductwork.automation.trigger import TriggerScheduler
    from ductwork.pipelines.controller import PipelineController
    from ductwork.pipelines.decorator import PipelineDecorator

_WHERE = {
    "TaskScheduler": "ductwork.automation.scheduler",
    "TriggerScheduler": "ductwork.automation.trigger",
    "PipelineController": "ductwork.pipelines.controller",
    "PipelineDecorator": "ductwork.pipelines.decorator",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ductwork.automation' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["PipelineController", "PipelineDecorator", "TaskScheduler", "TriggerScheduler"]
