"""Read models for the web pages: what each page shows, gathered from the store in few queries.

Pages never talk to the store themselves; they ask for a view here and render it. Every view is a
plain dataclass so templates stay dumb and tests can check the numbers without parsing HTML. One
module a page family: `pipelines` (the pipelines list, a pipeline's runs table), `runs` (a run's
DAG and live states), `tasks` (the tasks table, one task), `series` (scalars, plots, console),
`queues`, `schedulers`, `compare`; `common` holds the store's reading half (`Reader`) and how
values are shown.
"""

from ductwork.server.services.views.common import (
    MAX_POINTS,
    NODE_STATUSES,
    RUN_STATUSES,
    Reader,
    display_value,
    duration,
    last_metrics,
    metric_name,
    one_read,
    run_status,
)
from ductwork.server.services.views.compare import Comparison, compare
from ductwork.server.services.views.pipelines import (
    RUNS_PAGE,
    PipelineSummary,
    RunRow,
    RunsTable,
    list_pipelines,
    pipeline_summary,
    runs_table,
)
from ductwork.server.services.views.queues import QueueRow, WorkerRow, queues_view
from ductwork.server.services.views.references import Producer, Shown, run_steps, shown_params
from ductwork.server.services.views.runs import (
    RunView,
    StepInfo,
    node_states_payload,
    pipeline_steps,
    run_view,
)
from ductwork.server.services.views.schedulers import EntryView, SchedulerView, schedulers_view
from ductwork.server.services.views.series import (
    Plot,
    ScalarChart,
    Series,
    console_page,
    lttb,
    plots,
    scalar_charts,
)
from ductwork.server.services.views.tasks import (
    TASKS_PAGE,
    ModelView,
    TasksTable,
    TaskView,
    step_code,
    task_view,
    tasks_table,
)

__all__ = [
    "MAX_POINTS",
    "NODE_STATUSES",
    "RUNS_PAGE",
    "RUN_STATUSES",
    "TASKS_PAGE",
    "Comparison",
    "EntryView",
    "ModelView",
    "PipelineSummary",
    "Plot",
    "Producer",
    "QueueRow",
    "Reader",
    "RunRow",
    "RunView",
    "RunsTable",
    "ScalarChart",
    "SchedulerView",
    "Series",
    "Shown",
    "StepInfo",
    "TaskView",
    "TasksTable",
    "WorkerRow",
    "compare",
    "console_page",
    "display_value",
    "duration",
    "last_metrics",
    "list_pipelines",
    "lttb",
    "metric_name",
    "node_states_payload",
    "one_read",
    "pipeline_steps",
    "pipeline_summary",
    "plots",
    "queues_view",
    "run_status",
    "run_steps",
    "run_view",
    "runs_table",
    "scalar_charts",
    "schedulers_view",
    "shown_params",
    "step_code",
    "task_view",
    "tasks_table",
]
