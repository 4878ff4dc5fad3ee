"""`clearml.automation.controller`'s names (`from ... .controller import PipelineDecorator`),
imported on first use through the package's lazy names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ductwork import automation

if TYPE_CHECKING:
    from ductwork.pipelines.controller import PipelineController
    from ductwork.pipelines.decorator import PipelineDecorator

__all__ = ["PipelineController", "PipelineDecorator"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'ductwork.automation.controller' has no attribute {name!r}")
    return getattr(automation, name)
