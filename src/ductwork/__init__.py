"""ductwork: pipelines with the ClearML Pipelines API, embedded by default.

`import ductwork` stays light: every public name is imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Task": "ductwork.sdk.task",
    "TaskTypes": "ductwork.core.records",
    "Logger": "ductwork.sdk.logger",
    "OutputModel": "ductwork.sdk.model",
    "InputModel": "ductwork.sdk.model",
    "Model": "ductwork.sdk.model",
    "StorageManager": "ductwork.sdk.storage",
    "PipelineController": "ductwork.pipelines.controller",
    "PipelineDecorator": "ductwork.pipelines.decorator",
}

__all__ = [
    "InputModel",
    "Logger",
    "Model",
    "OutputModel",
    "PipelineController",
    "PipelineDecorator",
    "StorageManager",
    "Task",
    "TaskTypes",
]

if TYPE_CHECKING:
    from ductwork.core.records import TaskTypes
    from ductwork.pipelines.controller import PipelineController
    from ductwork.pipelines.decorator import PipelineDecorator
    from ductwork.sdk.logger import Logger
    from ductwork.sdk.model import InputModel, Model, OutputModel
    from ductwork.sdk.storage import StorageManager
    from ductwork.sdk.task import Task


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ductwork' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
