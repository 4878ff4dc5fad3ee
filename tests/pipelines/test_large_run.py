"""A run of 10,000 steps closes and loads again (issue 15): its `Pipeline` configuration holds
each step compactly (fields at their defaults left out), within the store's bound on a
configuration object, and every reader of the stored DAG takes the defaults back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, PipelineDecorator
from ductwork.core import runformat
from ductwork.core.queries import TaskQuery
from ductwork.core.records import ConfigObject
from ductwork.pipelines import dagtext
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
    first = json.loads(text.texts({"step": node})[0])
    node.state.cache_note = "reused"
    second = json.loads(text.texts({"step": node})[0])
    node.queue = "cpu"  # a new spec
    third = json.loads(text.texts({"step": node})[0])
    assert "cache_note" not in first["step"]
    assert second["step"]["cache_note"] == "reused"
    assert third["step"]["queue"] == "cpu"


def test_a_dag_longer_than_a_part_is_written_in_parts_and_read_back_whole(home, monkeypatch) -> None:
    monkeypatch.setattr(dagtext, "DAG_PART_CHARS", 2_000)  # as a run of ~30,000 steps would be
    PipelineDecorator.debug_pipeline()
    assert wide(60) == sum(range(60))
    store = backend()
    (run,) = store.query_tasks(TaskQuery(type=["controller"]))
    configs = store.get_configurations(run.id)
    texts = runformat.dag_texts(configs)
    assert len(texts) > 3 and {name for name in configs if name.startswith("Pipeline")} == {
        "Pipeline",
        *(f"Pipeline.{i}" for i in range(2, len(texts) + 1)),
    }
    for text in texts:  # each part an object of whole steps, within its bound
        assert len(text) <= 2_000 and isinstance(json.loads(text), dict)
    steps = runformat.read_dag_configs(configs)
    assert len(steps) == 61 and steps["leaf_59"]["status"] == "completed"
    from ductwork.server.services.views.runs import pipeline_steps

    leaves = ["leaf", *(f"leaf_{i}" for i in range(1, 60))]
    shown = pipeline_steps(store, run)  # the run page reads the shape from every part too
    assert len(shown) == 61 and sorted(shown["add_all"].parents) == sorted(leaves)
    dag = PipelineController.get(pipeline_id=run.id).get_pipeline_dag()
    assert len(dag) == 61 and sorted(dag["add_all"].parents) == sorted(leaves)


def test_a_run_that_writes_fewer_parts_than_its_task_holds_ends_them() -> None:
    # A copy of a bigger run holds its parts; a shorter DAG written over them ends them with an
    # empty part, which readers stop at.
    text = DagText(part_chars=10_000)
    text.stored_parts(3)
    node = Node(name="only")
    writes = text.writes({"only": node})
    assert [name for name, _ in writes] == ["Pipeline", "Pipeline.2"] and writes[1][1] == ""
    stale = ConfigObject('{"gone": {"parents": []}}', "json")
    configs = {name: ConfigObject(body, "json") for name, body in writes} | {"Pipeline.3": stale}
    assert list(runformat.read_dag_configs(configs)) == ["only"]
    for name, body in writes:
        text.wrote(name, body)
    assert text.writes({"only": node}) == []  # ended once; and nothing changed since
    node.status = "completed"
    assert [name for name, _ in text.writes({"only": node})] == ["Pipeline"]


def test_a_write_stores_only_the_parts_that_changed() -> None:
    text = DagText(part_chars=150)
    nodes = {f"s{i}": Node(name=f"s{i}") for i in range(12)}
    for node in nodes.values():
        node.status = "completed"
    first = text.writes(nodes)
    assert len(first) > 3
    for name, body in first:
        text.wrote(name, body)
    nodes["s12"] = Node(name="s12", parents=["s11"])  # a step added: only the last part changes
    again = text.writes(nodes)
    assert len(again) == 1 and again[0][0] in (first[-1][0], f"Pipeline.{len(first) + 1}")
    assert json.loads(again[0][1])["s12"]["parents"] == ["s11"]


def test_a_steps_entry_is_its_full_entry_without_the_defaults() -> None:
    def reference(node: Node) -> dict[str, Any]:
        defaults = Node(name="default").to_dict()
        return {
            k: v for k, v in node.to_dict().items() if k == "parents" or k not in defaults or v != defaults[k]
        }

    plain = Node(name="plain")
    busy = Node(
        name="busy",
        parents=["a", "b"],
        queue="gpu",
        timeout=30.0,
        parameters={"General/lr": 0.1},
        cache_executed_step=True,
        monitor_metrics=[("loss", "x")],
        continue_on_fail=True,
        stage="train",
        base_task_id="t0",
    )
    busy.status, busy.job_id, busy.executed, busy.job_started, busy.attempt = "failed", "t9", "t9", 5.0, 2
    busy.job_type, busy.cache_note = "training", "cache miss"
    for node in (plain, busy):
        assert entry(node) == reference(node)
        ((_, encoded),) = json.loads(DagText().texts({node.name: node})[0]).items()
        assert encoded == json.loads(json.dumps(reference(node), default=str))


def test_the_runs_last_flush_writes_only_states_that_changed(home, monkeypatch) -> None:
    """The run's closing flush goes over every step but writes only those whose state changed
    since the run last wrote it; a write the store refused is made again (its states were
    not taken as written), and every step ends in the store as it ended."""
    from ductwork.core.errors import StorageError
    from ductwork.store.store import Store

    written: list[list[str]] = []
    refused = [True]
    put_nodes = Store.put_nodes

    def counted(self: Store, states: list[Any]) -> None:
        if refused[0] and len(states) > 2:
            refused[0] = False
            raise StorageError("the disk said no")
        put_nodes(self, states)
        written.append([state.name for state in states])

    monkeypatch.setattr(Store, "put_nodes", counted)
    PipelineDecorator.debug_pipeline()
    assert wide(width=300) == sum(range(300))
    assert not refused[0]  # one write was refused on the way
    store = backend()
    run = store.query_tasks(TaskQuery(type=["controller"], order_by="-created"))[0]
    nodes = store.get_nodes(run.id)
    assert len(nodes) == 301 and {node.status for node in nodes} == {"completed"}
    assert all(len(names) < 301 for names in written)  # never the whole run at once
    assert {name for names in written for name in names} == {node.name for node in nodes}
