"""Checking a pipeline before it runs, as a function of its spec: references, the DAG, code that
can only run in debug mode, queues. What it finds is in the spec it returns: a step's parents
include every step its references name."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

from ductwork.core import dag, refs
from ductwork.core.errors import ValidationError
from ductwork.pipelines.spec import PipelineSpec, StepSpec


def checked(
    pipeline: PipelineSpec, *, default_queue: str | None, need_queues: bool, in_process: bool
) -> PipelineSpec:
    """`pipeline` with each step's referenced steps among its parents; ValidationError naming
    the step for a bad reference, a cycle, uncaptured code outside debug mode (`in_process`),
    or no queue when steps go to agents (`need_queues`)."""
    returns: dict[str, Sequence[str] | None] = {
        step.name: (step.return_names if step.is_function else None) for step in pipeline.steps
    }
    steps = tuple(_with_referenced_parents(step, returns, pipeline.parameters) for step in pipeline.steps)
    dag.validate({step.name: list(step.parents) for step in steps})
    for step in steps:
        if step.capture_error and not in_process:
            raise ValidationError(step.capture_error + " (only debug mode can run it)")
        if need_queues and not (step.options.queue or default_queue):
            raise ValidationError(
                f"step {step.name!r} has no execution queue and the pipeline has no default queue "
                "(set execution_queue=... or pipe.set_default_execution_queue(...))"
            )
    return dataclasses.replace(pipeline, steps=steps)


def _with_referenced_parents(
    step: StepSpec, returns: Mapping[str, Sequence[str] | None], args: Collection[str]
) -> StepSpec:
    name, found = step.name, set[str]()
    recursive = step.recursively_parse_parameters or step.is_function
    for key, value in step.parameters.items():
        where = f"step {name!r} parameter {key!r}"
        found |= refs.validate_refs(
            value, where=where, steps=returns, pipeline_args=args, recursive=recursive
        )
    where = f"step {name!r} task_overrides"
    found |= refs.validate_refs(
        step.task_overrides, where=where, steps=returns, pipeline_args=args, recursive=True
    )
    if step.options.queue:
        where = f"step {name!r} execution_queue"
        found |= refs.validate_refs(step.options.queue, where=where, steps=returns, pipeline_args=args)
    missing = sorted(found - set(step.parents) - {name})
    return dataclasses.replace(step, parents=(*step.parents, *missing)) if missing else step
