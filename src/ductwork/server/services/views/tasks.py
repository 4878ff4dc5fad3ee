"""The tasks table and one task's page."""

from __future__ import annotations

from dataclasses import dataclass

from ductwork.core import runformat
from ductwork.core.display import STATUSES_OF_WORD
from ductwork.core.errors import NotFound
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import (
    ArtifactRecord,
    ConfigObject,
    ModelRecord,
    Param,
    Project,
    TaskRecord,
)
from ductwork.server.services.views.common import (
    Reader,
    metric_name,
)


@dataclass
class TasksTable:
    tasks: list[TaskRecord]
    project_names: dict[str, str]  # project id -> full name, for the tasks shown
    projects: list[Project]  # what the project filter offers: every project but pipelines' own
    project: str
    status: str
    search: str
    limit: int


TASKS_PAGE = 200


def tasks_table(
    store: Reader, *, project: str = "", status: str = "", search: str = "", limit: int = TASKS_PAGE
) -> TasksTable:
    """The newest tasks of any kind (scripts, steps, controllers), filtered, newest first."""
    projects = store.list_projects()
    names = {p.id: p.name for p in projects}
    query = TaskQuery(
        project=project or None,
        # a word a person read (`running`), or a stored status (`in_progress`, what the API takes)
        status=list(STATUSES_OF_WORD.get(status, (status,))) if status else None,
        name_pattern=_literal_pattern(search) if search.strip() else None,
        order_by="-created",
        limit=limit,
    )
    tasks = store.query_tasks(query)
    return TasksTable(
        tasks=tasks,
        project_names={t.project: names.get(t.project, "") for t in tasks if t.project},
        projects=sorted(
            (p for p in projects if f"/{runformat.PIPELINES_FOLDER}" not in f"/{p.name}"),
            key=lambda p: p.name,
        ),
        project=project,
        status=status,
        search=search,
        limit=limit,
    )


def _literal_pattern(text: str) -> str:
    """A case-insensitive regex that matches `text` literally anywhere in a name."""
    import re

    return f"(?i){re.escape(text.strip())}"


# --- one task -----------------------------------------------------------------------------------------


@dataclass
class ModelView:
    role: str
    name: str
    model: ModelRecord | None


@dataclass
class TaskView:
    task: TaskRecord
    project: Project | None
    params: dict[str, dict[str, Param]]  # section -> name -> Param
    configs: dict[str, ConfigObject]
    artifacts: list[ArtifactRecord]
    models: list[ModelView]
    single_values: dict[str, float]
    plot_titles: list[str]
    has_scalars: bool
    code: str


def task_view(store: Reader, task_id: str) -> TaskView:
    task = store.get_task(task_id)
    project = None
    if task.project:
        try:
            project = store.get_project(task.project)
        except NotFound:
            project = None
    params: dict[str, dict[str, Param]] = {}
    for key, param in sorted(store.get_parameters(task_id).items()):
        section, _, name = key.partition("/")
        params.setdefault(section, {})[name or section] = param
    models = []
    for link in store.get_task_models(task_id):
        try:
            model: ModelRecord | None = store.get_model(link.model_id)
        except NotFound:
            model = None
        models.append(ModelView(role=link.role, name=link.name or (model.name if model else ""), model=model))
    singles = {metric_name(e): e.value for e in store.get_events(EventQuery(task_id, kind="single"))}
    plots = store.get_events(EventQuery(task_id, kind="plot")) + store.get_events(
        EventQuery(task_id, kind="image")
    )
    return TaskView(
        task=task,
        project=project,
        params=params,
        configs=store.get_configurations(task_id),
        artifacts=store.get_artifacts(task_id),
        models=models,
        single_values={k: v for k, v in singles.items() if v is not None},
        plot_titles=sorted({e.title for e in plots}),
        # One row tells whether there are any; the charts read the series themselves.
        has_scalars=bool(store.get_events(EventQuery(task_id, kind="scalar", limit=1))),
        code=str(task.script.get("code") or task.script.get("diff") or ""),
    )


def step_code(store: Reader, run: TaskRecord | None, task: TaskRecord) -> str:
    """A step's readable code: its own script, else the run's configuration section named after it."""
    code = task.script.get("code") or task.script.get("diff")
    if code:
        return str(code)
    if run is not None:
        section = store.get_configurations(run.id).get(task.name)
        if section is not None:
            return section.text
    return ""
