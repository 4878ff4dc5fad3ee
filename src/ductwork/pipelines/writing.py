"""Writing a run to the store: its arguments, settings, version, each function step's code and the
`Pipeline` DAG, as `core.runformat` names them; the version bumped when the DAG's shape changes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ductwork.core import arguments
from ductwork.core.queries import TaskQuery
from ductwork.core.records import ConfigObject, Param, TaskTypes
from ductwork.core.runformat import (
    CODE_DESCRIPTION,
    CODE_FIELDS,
    CODE_REPOSITORY,
    PIPELINE_HASH,
    SETTING_ADD_PIPELINE_TAGS,
    SETTING_DEFAULT_QUEUE,
    SETTING_TARGET_PROJECT,
    VERSION,
    VERSION_PARAM,
)
from ductwork.pipelines import unstarted
from ductwork.pipelines.building import StepBuilding
from ductwork.pipelines.pipeline import DEFAULT_VERSION
from ductwork.pipelines.run import config_object


class RunWriting(StepBuilding):
    def _structure_hash(self) -> str:
        skip = {
            "executed",
            "status",
            "job_started",
            "job_ended",
            "job_id",
            "attempt",
            "cache_note",
            "skip_job",
        }
        shape = {
            name: {
                **{k: v for k, v in node.to_dict().items() if k not in skip},
                "code": getattr(node.code, "digest", None),
            }
            for name, node in self._nodes.items()
        }
        blob = json.dumps(
            {"nodes": shape, "args": {k: p.value for k, p in self._args.items()}}, sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _resolve_version(self, structure: str) -> str:
        if self._version:
            return self._version
        runs = self._backend.query_tasks(
            TaskQuery(
                project=self._task.project,
                type=[TaskTypes.controller],
                archived=None,
                order_by="-created",
                limit=200,
            )
        )
        earlier = [r for r in runs if r.id != self._task.id and r.runtime.get(VERSION)]
        if not earlier:
            return DEFAULT_VERSION
        from ductwork.core import version

        if earlier[0].runtime.get(PIPELINE_HASH) == structure:
            return str(earlier[0].runtime[VERSION])
        highest = version.max_version([str(r.runtime[VERSION]) for r in earlier])
        return version.bump(highest) if highest else DEFAULT_VERSION

    def _serialize(self) -> None:
        """Write what a rerun needs: arguments, the DAG, each function step's code, the version."""
        task_id = self._task.id
        unstarted.written(task_id)
        if self._remote:
            self._pull_args()
        params = {self._arg_key(name): param for name, param in self._args.items()}
        params.update(
            {
                SETTING_DEFAULT_QUEUE: Param(self._default_queue, "str"),
                SETTING_ADD_PIPELINE_TAGS: Param(self._add_pipeline_tags, "bool"),
                SETTING_TARGET_PROJECT: Param(self._target_project, type(self._target_project).__name__),
            }
        )
        structure = self._structure_hash()
        resolved = self._task.runtime.get(VERSION) if self._remote else None
        resolved = resolved or self._resolve_version(structure)
        params[VERSION_PARAM] = Param(resolved, "str")
        self._backend.set_parameters(task_id, params)
        for name, node in self._nodes.items():
            if node.code is not None:
                code = node.code
                values = (code.name, code.source, list(code.requirements), node.return_artifacts, code.digest)
                stored: dict[str, Any] = dict(zip(CODE_FIELDS, values, strict=True))
                if node.options.repository is not None:  # a rerun from the stored DAG clones it again
                    repository = node.options.repository.script_part()
                    stored[CODE_REPOSITORY] = {k: v for k, v in repository.items() if k != "diff"}
                self._backend.set_configuration(
                    task_id, name, ConfigObject(json.dumps(stored, indent=1), "json", CODE_DESCRIPTION)
                )
        runtime = {**self._task.runtime, VERSION: resolved, PIPELINE_HASH: structure}
        self._task = self._backend.edit_task(task_id, {"runtime": runtime})
        self._write_dag()

    def _pull_args(self) -> None:
        """Under an agent, the stored arguments (a NEW RUN's edits) win over the code's defaults."""
        stored = self._backend.get_parameters(self._task.id)
        for name, param in self._args.items():
            edited = stored.get(self._arg_key(name))
            if edited is not None:
                # An argument without a default (None) takes the stored value as it is.
                param.value = (
                    arguments.cast(edited.value, param.type, name=f"pipeline argument {name!r}")
                    if param.value is not None
                    else edited.value
                )

    def _write_dag(self) -> None:
        for name, text in self._dag_text.writes(self._nodes):
            self._backend.set_configuration(self._task.id, name, config_object(text))
            self._dag_text.wrote(name, text)
