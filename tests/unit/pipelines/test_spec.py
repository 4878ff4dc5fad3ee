"""A step's options are read one way (`options_from`), and `PipelineController.Node` is a view of
its frozen spec and its state: ClearML's attribute names, settable, stored as before."""

from __future__ import annotations

import json

import pytest

from ductwork.core.errors import ValidationError
from ductwork.core.runformat import STEP_FIELDS
from ductwork.pipelines.node import Node
from ductwork.pipelines.spec import StepSpec, options_from, step_options


def test_a_component_and_a_controller_step_read_the_same_options() -> None:
    given = {"execution_queue": "gpu", "monitor_metrics": [("loss", "train")], "tags": "nightly"}
    as_component = options_from("train", {**given, "cache": True, "self": object()})
    as_controller_step = options_from("train", {**given, "cache_executed_step": True, "name": "train"})
    assert as_component == as_controller_step
    assert (as_component.cache, as_component.queue, as_component.tags) == (True, "gpu", ("nightly",))


def test_continue_behaviour_keeps_the_documented_defaults_for_keys_left_out() -> None:
    options = step_options("s", continue_behaviour={"continue_on_fail": True})
    assert (options.continue_on_fail, options.skip_children_on_fail, options.skip_children_on_abort) == (
        True,
        True,
        True,
    )
    with pytest.raises(ValidationError, match="unknown task_type"):
        step_options("s", task_type="no-such-type")


def test_a_node_reads_and_writes_its_spec_and_its_state() -> None:
    node = Node(spec=StepSpec(name="b", parents=("a",), options=step_options("b", execution_queue="q")))
    assert (node.parents, node.queue, node.status) == (["a"], "q", "pending")
    frozen = node.spec
    node.queue = "other"  # e.g. a pre-execute callback
    node.parents = [*node.parents, "c"]
    node.status = "running"
    assert (node.spec.options.queue, node.spec.parents, node.state.status) == ("other", ("a", "c"), "running")
    assert frozen.options.queue == "q"  # a new spec, the old one untouched
    with pytest.raises(TypeError, match="no attribute 'colour'"):
        Node(name="x", colour="red")


def test_a_node_is_stored_with_the_run_formats_fields_in_their_order() -> None:
    node = Node(name="s", queue="q", parents=["a"], monitor_metrics=[("t", "s")], job_code_section="s")
    entry = node.to_dict()
    assert list(entry) == list(STEP_FIELDS)
    assert json.loads(json.dumps(entry))["monitor_metrics"] == [["t", "s"]]
    assert (entry["job_code_section"], entry["parents"], entry["queue"]) == ("s", ["a"], "q")
    fresh = node.copy()
    assert fresh.spec == node.spec and fresh.state is not node.state
