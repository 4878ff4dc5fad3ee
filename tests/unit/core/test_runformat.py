"""The stored run format's helpers (`core.runformat`)."""

from __future__ import annotations

import json

import pytest

from ductwork.core import runformat
from ductwork.core.records import Param, TaskRecord


def test_arguments_are_the_args_section() -> None:
    params = {
        "Args/lr": Param(0.1, "float"),
        "pipeline/default_queue": Param("q", "str"),
        "Argsx/y": Param(1),
    }
    assert runformat.args_of(params) == {"lr": Param(0.1, "float")}
    assert runformat.arg_key("lr") == "Args/lr"
    assert runformat.arg_key("lr", "Mine") == "Mine/lr"


def test_a_run_is_a_controller_or_tagged_pipeline() -> None:
    assert runformat.is_run(TaskRecord(name="c", type="controller"))
    assert runformat.is_run(TaskRecord(name="t", system_tags=["pipeline"]))
    assert not runformat.is_run(TaskRecord(name="t"))


def test_runs_project_round_trips() -> None:
    full = runformat.runs_project("a/b", "train")
    assert full == "a/b/.pipelines/train"
    assert runformat.split_runs_project(full) == ("a/b", "train")
    assert runformat.split_runs_project("a/b") is None
    assert runformat.split_runs_project("a/.pipelines/x/y") is None


def test_a_clone_starts_without_the_runs_own_state() -> None:
    assert runformat.fresh_runtime({"version": "1.0.0", "_owner": {"pid": 1}}) == {"version": "1.0.0"}


def test_version_of() -> None:
    assert runformat.version_of(TaskRecord(name="r", runtime={"version": "1.2.0"})) == "1.2.0"
    assert runformat.version_of(TaskRecord(name="r")) == ""


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        (json.dumps({"a": {"parents": []}, "b": {"parents": ["a"]}}), ["a", "b"]),
        ("", []),
        ("{not json", []),
        ("[1, 2]", []),
        (json.dumps({"a": {"parents": []}, "junk": 3}), ["a"]),  # edited by hand: kept what is a step
    ],
)
def test_read_dag_passes_over_what_is_not_a_step(text: str, steps: list[str]) -> None:
    assert list(runformat.read_dag(text)) == steps


def test_step_fields_are_unique_and_name_the_job() -> None:
    assert len(set(runformat.STEP_FIELDS)) == len(runformat.STEP_FIELDS)
    assert {"parents", "queue", "stage", "job_id", "job_code_section", "attempt"} <= set(
        runformat.STEP_FIELDS
    )
