"""A run of 10,000 steps closes and loads again (issue 15): its `Pipeline` configuration holds
each step compactly (fields at their defaults left out), within the store's bound on a
configuration object, and every reader of the stored DAG takes the defaults back."""

from __future__ import annotations

import json

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, PipelineDecorator
from ductwork.core.queries import TaskQuery
from ductwork.pipelines.dagtext import DagText, entry
from ductwork.pipelines.node import Node
from ductwork.pipelines.stored import nodes_from_config

WIDTH = 10_000


@PipelineDecorator.component(return_values=["v"])
def leaf(i: int):
    return i


@PipelineDecorator.component(return_values=["total"])
def add_all(values: list):
    return sum(values)


@PipelineDecorator.pipeline(name="wide", project="tests")
def wide(width: int = 3):
    return add_all([leaf(i) for i in range(width)])


@pytest.mark.slow
def test_a_ten_thousand_step_debug_run_closes_and_loads_again(home) -> None:
    PipelineDecorator.debug_pipeline()
    assert wide(WIDTH) == sum(range(WIDTH))
    store = backend()
    (run,) = store.query_tasks(TaskQuery(type=["controller"]))
    assert run.status == "completed"
    loaded = PipelineController.get(pipeline_id=run.id)
    dag = loaded.get_pipeline_dag()
    assert len(dag) == WIDTH + 1
    states = {state.name: state for state in store.get_nodes(run.id)}
    for name in ("leaf", f"leaf_{WIDTH - 1}", "add_all"):
        assert dag[name].status == "completed" == states[name].status
        assert dag[name].executed == states[name].task_id
    assert dag["add_all"].return_artifacts == ["total"]
    assert dag["leaf_5"].clone_task is False and dag["leaf_5"].skip_children_on_fail is True


def test_a_compact_entry_and_a_full_one_load_as_the_same_step() -> None:
    node = Node(name="train", parents=["data"], queue="gpu", parameters={"General/lr": 0.1})
    node.status, node.executed, node.job_id, node.job_started = "completed", "t1", "t1", 5.0
    compact = entry(node)
    assert "clone_task" not in compact and "timeout" not in compact  # at their defaults
    assert compact["parents"] == ["data"] and compact["queue"] == "gpu"
    full = node.to_dict()
    (from_compact,) = nodes_from_config({"train": compact}, {}, keep={}).values()
    (from_full,) = nodes_from_config({"train": full}, {}, keep={}).values()
    assert from_compact.to_dict() == from_full.to_dict() == full


def test_a_final_steps_entry_is_encoded_again_when_it_changes() -> None:
    text = DagText()
    node = Node(name="step")
    node.status = "completed"
    first = json.loads(text.text({"step": node}))
    node.state.cache_note = "reused"
    second = json.loads(text.text({"step": node}))
    node.queue = "cpu"  # a new spec
    third = json.loads(text.text({"step": node}))
    assert "cache_note" not in first["step"]
    assert second["step"]["cache_note"] == "reused"
    assert third["step"]["queue"] == "cpu"
