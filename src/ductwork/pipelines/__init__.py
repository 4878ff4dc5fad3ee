"""Pipelines: PipelineController, PipelineDecorator, and the engine, executors and runner under them."""
