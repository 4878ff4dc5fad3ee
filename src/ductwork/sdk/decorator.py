"""`ductwork.sdk.decorator`: where `PipelineDecorator` lived; scripts may still import it here."""

from ductwork.pipelines.decorator import PipelineDecorator

__all__ = ["PipelineDecorator"]
