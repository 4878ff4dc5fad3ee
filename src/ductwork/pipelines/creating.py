"""`PipelineController.create`: a pipeline's controller task made from code that is not running
here (a script, a module, a repository), as a draft an agent runs when it is enqueued.

The draft is a run like any other before its start: a controller task in the pipeline's hidden
runs project, tagged as a pipeline, with its version and run number. When an agent runs it, the
script's own `PipelineController(...)` attaches to it (`PipelineBase._attach_or_create`).
"""

from __future__ import annotations

from typing import Any

from ductwork import client
from ductwork.core.errors import ValidationError
from ductwork.core.records import Param, TaskRecord, TaskTypes
from ductwork.core.runformat import HIDDEN_TAG, PIPELINE_TAG, VERSION, VERSION_PARAM, runs_project
from ductwork.pipelines.options import need_text, version_ok
from ductwork.pipelines.pipeline import DEFAULT_VERSION, run_name


def controller_draft(
    project_name: str, task_name: str, version: str | None, add_run_number: bool, code: dict[str, Any]
) -> TaskRecord:
    """The controller task of a pipeline that `code` (Task.create's arguments) builds."""
    from ductwork.sdk.task import Task

    need_text("PipelineController.create: project_name", project_name)
    need_text("PipelineController.create: task_name", task_name)
    version = DEFAULT_VERSION if version is None else version
    if not version_ok(version):
        raise ValidationError(f"PipelineController.create: version {version!r} is not a version like 1.0.0")
    backend = client.backend()
    project = backend.ensure_project(
        runs_project(project_name, task_name), system_tags=[PIPELINE_TAG, HIDDEN_TAG]
    )
    task = Task.create(
        project_name=project.name,
        task_name=run_name(backend, project.id, task_name, add_run_number),
        task_type=TaskTypes.controller,
        add_task_init_call=False,  # the script's PipelineController is what attaches to the task
        **code,
    )
    backend.set_parameters(task.id, {VERSION_PARAM: Param(version, "str")})
    made = task.data  # as created: the parameters change neither its tags nor its runtime
    tags = [*made.system_tags, *([] if PIPELINE_TAG in made.system_tags else [PIPELINE_TAG])]
    return backend.edit_task(task.id, {"system_tags": tags, "runtime": {**made.runtime, VERSION: version}})
