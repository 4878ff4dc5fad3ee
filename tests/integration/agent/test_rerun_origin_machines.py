"""NEW RUN through the server of a pipeline no script started, on machines of their own.

A laptop runs the demo's decorator pipeline from `python -c` (the way a notebook or the CLI
starts one: running that again rebuilds nothing). Its controller records the pipeline function
by module and name, so a NEW RUN asked through the API with a new argument is rebuilt by an agent
on another machine, which imports the function from its own installation. A pipeline whose
function lives only in the laptop's `python -c` is refused through the API with the reason,
and nothing is created or queued.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.pipelines.test_rerun_origin import INLINE_PIPELINE

from ductwork.core.errors import Conflict
from ductwork.core.queries import TaskQuery

pytestmark = pytest.mark.slow  # a server, an agent and a laptop

DEMO = "from ductwork.demo_pipeline import run; print(run('local')['rate'])"


def test_a_new_run_of_a_pipeline_started_outside_a_script_runs_on_an_agent(machines: Any) -> None:
    server = machines.server()
    laptop = machines.client("laptop")
    laptop.python(DEMO)
    first = server.controller("model search")
    assert first.script["module"] == "ductwork.pipelines.rebuild"
    assert first.script["args"] == ["ductwork.demo_pipeline:model_search", "--mode", "local"]

    machines.agent("runner", queues=["services"])
    started = laptop_backend(server).new_run(first.id, {"rows": 90, "steps": 3})
    done = server.wait_final(started["id"])

    assert done.status == "completed", server.machine.log("server.log")
    nodes = {n.name: n for n in server.api.get_nodes(done.id)}
    assert {n.status for n in nodes.values()} == {"completed"} and len(nodes) == 6
    assert server.api.get_parameters(nodes["load"].task_id)["kwargs/rows"].value == 90
    assert server.api.get_parameters(nodes["fit"].task_id)["kwargs/steps"].value == 3


def test_a_pipeline_only_python_c_defined_is_refused_with_the_reason(machines: Any) -> None:
    server = machines.server()
    laptop = machines.client("laptop")
    assert laptop.python(INLINE_PIPELINE) == "2"
    run = server.controller("inline")
    everything = TaskQuery(archived=None, type=None)
    before = {t.id for t in server.api.query_tasks(everything)}

    with pytest.raises(Conflict) as refused:
        laptop_backend(server).new_run(run.id, {"x": 5})

    assert "cannot be run again" in str(refused.value) and "__main__" in str(refused.value)
    assert {t.id for t in server.api.query_tasks(everything)} == before
    assert all(q.length == 0 for q in server.api.list_queues())


def laptop_backend(server: Any) -> Any:
    """Alice's backend (the laptop's key): NEW RUN as its user asks for it."""
    return server.backend(server.user_key)
