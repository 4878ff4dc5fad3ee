"""`ductwork.sdk.controller`: where `PipelineController` lived; scripts may still import it here."""

from ductwork.pipelines.controller import PipelineController

__all__ = ["PipelineController"]
