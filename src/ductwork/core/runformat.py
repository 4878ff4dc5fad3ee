"""The stored pipeline-run format: the names a run is written under in the store.

A pipeline run is a controller task. The SDK writes it (`PipelineController._serialize`), the
server reads it (runs table, run page, NEW RUN) and a rerun reads it back; all of them take the
names from here so the two sides cannot drift apart. Stored runs name these strings, so they
never change: add a name, never rename one.

    task.type                   "controller"        (`core.records.TaskTypes.controller`)
    task.system_tags            ["pipeline"]        PIPELINE_TAG
    project                     "<project>/.pipelines/<name>"  (hidden, tagged pipeline + hidden)
    parameters  Args/<name>     the pipeline's arguments        ARGS, arg_key(), args_of()
                pipeline/*      controller settings             SETTING_*
                properties/version                              VERSION_PARAM
    configuration "Pipeline"    the DAG: step name -> STEP_FIELDS   DAG_CONFIG, read_dag()
                  "Pipeline.2"  ... its next parts, when it is big   DAG_PART, dag_texts()
    configuration "<step>"      a function step's code: CODE_*
    runtime     version, pipeline_hash; "_"-keys are this run's own state, not copied to a clone
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

from ductwork.core.records import ConfigObject, TaskRecord, TaskTypes

T = TypeVar("T")

# --- the controller task and its project ------------------------------------------------------

CONTROLLER_TYPE = TaskTypes.controller
PIPELINE_TAG = "pipeline"  # system tag of a run's controller task and of its runs project
HIDDEN_TAG = "hidden"  # system tag of the runs project: not listed among the user's projects
PIPELINES_FOLDER = ".pipelines"  # runs live in "<project>/.pipelines/<pipeline name>"
CONTROLLER_QUEUE = "services"  # where a run's controller is enqueued when nothing names a queue

# --- parameters ---------------------------------------------------------------------------------

ARGS = "Args"  # section of the pipeline's arguments: "Args/<name>"
SETTING_DEFAULT_QUEUE = "pipeline/default_queue"
SETTING_ADD_PIPELINE_TAGS = "pipeline/add_pipeline_tags"
SETTING_TARGET_PROJECT = "pipeline/target_project"
VERSION_PARAM = "properties/version"
STEP_ARGS = "kwargs"  # section of a function step's arguments: "kwargs/<name>" or "kwargs/<i>"

# --- configuration objects ----------------------------------------------------------------------

# The DAG as JSON: {step name: {field: value for field in STEP_FIELDS}}; since issue 15 a field at
# its default value is left out (`pipelines.dagtext`), so readers take the default when one is absent.
DAG_CONFIG = "Pipeline"
DAG_DESCRIPTION = "pipeline state"
# A DAG too big for one configuration object goes on in "Pipeline.2", "Pipeline.3", ..., each an
# object of whole steps ("." is in no step's name, so no step's code is ever stored under one);
# readers merge the parts up to the first missing or empty one (`dag_texts`).
DAG_PART = "Pipeline.{}"
# Characters of one part at most: well under the store's bound on a text, and small enough that
# a write of a long run's DAG rewrites only its last parts (the steps that changed).
DAG_PART_CHARS = 256 << 10
CODE_DESCRIPTION = "step code"  # a function step's code, under the configuration named by the step
CODE_FIELDS = ("function", "code", "requirements", "return", "digest")
CODE_REPOSITORY = "repository"  # beside them, a step with repo=: {"repository", "commit", "branch"}

# Each step's entry in the DAG. Older runs may lack later fields: readers use .get().
STEP_FIELDS = (
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

# --- runtime keys -------------------------------------------------------------------------------

VERSION = "version"  # the run's pipeline version ("1.0.0", bumped when the DAG's shape changes)
PIPELINE_HASH = "pipeline_hash"  # the DAG's shape, to tell whether the version must be bumped
STEP = "step"  # on a step's task: the step's name in its run
RUN = "run"  # on a step's task: the controller task's id
RETURN_NAMES = "return_names"  # on a function step's task: the names its return value is split into
PRIVATE_PREFIX = "_"  # this run's own state (owner, ...): a clone starts without it


def arg_key(name: str, section: str = ARGS) -> str:
    """Where pipeline argument `name` is stored: `Args/<name>` (or another section's)."""
    return f"{section}/{name}"


def args_of(params: Mapping[str, T]) -> dict[str, T]:
    """The pipeline's arguments among a task's parameters, by name (`Args/lr` -> `lr`)."""
    prefix = f"{ARGS}/"
    return {key[len(prefix) :]: value for key, value in params.items() if key.startswith(prefix)}


def is_run(task: TaskRecord) -> bool:
    """Whether `task` is a pipeline run's controller."""
    return task.type == CONTROLLER_TYPE or PIPELINE_TAG in task.system_tags


def runs_project(project: str, pipeline: str) -> str:
    """The hidden project that holds a pipeline's runs."""
    return f"{project}/{PIPELINES_FOLDER}/{pipeline}"


def split_runs_project(full_name: str) -> tuple[str, str] | None:
    """`"a/b/.pipelines/train"` -> `("a/b", "train")`; None for a project that holds no pipeline."""
    head, sep, name = full_name.rpartition(f"/{PIPELINES_FOLDER}/")
    if not sep or not name or "/" in name:
        return None
    return head, name


def version_of(task: TaskRecord) -> str:
    """The run's pipeline version, "" when it has none yet."""
    return str(task.runtime.get(VERSION) or "")


def fresh_runtime(runtime: Mapping[str, object]) -> dict[str, object]:
    """A run's runtime as a copy of it starts with: without this run's own state (`_` keys)."""
    return {k: v for k, v in runtime.items() if not str(k).startswith(PRIVATE_PREFIX)}


def dag_texts(configs: Mapping[str, ConfigObject]) -> list[str]:
    """The stored DAG's texts in order: `Pipeline`, then its parts up to the first missing or
    empty one (a run that wrote fewer parts than the run it was copied from ends them so)."""
    texts = []
    name = DAG_CONFIG
    while name in configs and configs[name].text.strip():
        texts.append(configs[name].text)
        name = DAG_PART.format(len(texts) + 1)
    return texts


def read_dag_configs(configs: Mapping[str, ConfigObject]) -> dict[str, dict[str, object]]:
    """`read_dag` of every part of the stored DAG, merged."""
    steps: dict[str, dict[str, object]] = {}
    for text in dag_texts(configs):
        steps.update(read_dag(text))
    return steps


def read_dag(text: str) -> dict[str, dict[str, object]]:
    """The `Pipeline` configuration's steps, by name; {} for text that holds no DAG.

    The configuration is editable by users, so anything that is not an object of objects is
    passed over rather than trusted."""
    if not text.strip():
        return {}
    try:
        dag = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(dag, dict):
        return {}
    return {str(name): step for name, step in dag.items() if isinstance(step, dict)}
