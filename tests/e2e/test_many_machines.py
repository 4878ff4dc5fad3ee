"""Remote pipelines when their machines share nothing but the server (issue 11).

A PipelineController of function steps, a PipelineDecorator pipeline and a pipeline from
existing tasks, each with the controller on the user's laptop (`local`: steps through queues)
and fully remote (`remote`: the controller on a `services` agent); consecutive steps on two
different agents; the final outputs read from yet another machine (tests/machine_runs.py).
SQLite runs every case, PostgreSQL one shape of each kind, S3 storage every case.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from machine_runs import KINDS, SHAPES, STEP_AGENTS, Cluster, expected_outputs, start_cluster
from machines import open_machines
from s3server import s3_server  # noqa: F401 (the fixture the S3 cluster uses)

pytestmark = pytest.mark.slow  # a server, three agents and two clients per cluster, each a process

COUNT = 6  # numbers the pipelines chain through their steps

CASES = [
    *(pytest.param("sqlite", kind, shape, id=f"sqlite-{kind}-{shape}") for kind in KINDS for shape in SHAPES),
    *(
        pytest.param("postgresql", kind, shape, id=f"postgresql-{kind}-{shape}", marks=pytest.mark.postgres)
        for kind, shape in (("function", "remote"), ("decorator", "local"), ("tasks", "remote"))
    ),
    *(pytest.param("s3", kind, shape, id=f"s3-{kind}-{shape}") for kind in KINDS for shape in SHAPES),
]


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster per database / storage for the module: its runs do not interfere."""
    with open_machines(request, tmp_path_factory) as machines:
        if request.param == "s3":
            yield start_cluster(machines, s3=request.getfixturevalue("s3_server"))
        else:
            yield start_cluster(machines, db=request.param)


@pytest.mark.parametrize(("cluster", "kind", "shape"), CASES, indirect=["cluster"], scope="module")
def test_a_pipeline_runs_on_machines_that_share_only_the_server(
    cluster: Cluster, kind: str, shape: str
) -> None:
    run = cluster.run(kind, shape, COUNT)

    assert run.status == "completed", cluster.explain(run.id)
    steps = cluster.server.steps(run.id)
    assert {name: step.status for name, step in steps.items()} == dict.fromkeys(STEP_AGENTS, "completed")
    assert {name: step.worker for name, step in steps.items()} == STEP_AGENTS
    if shape == "remote":
        assert (run.worker or "").startswith("services/"), run.worker
    else:
        assert not (run.worker or "").startswith(("services", "alpha", "beta")), run.worker

    # The array went to the server's storage (not a step's home), whichever machine stored it.
    stored = [a for a in cluster.server.api.get_artifacts(steps["square"].id) if a.name == "squares"]
    assert [a.uri.startswith(cluster.storage) for a in stored] == [True], stored
    label = f"{kind} {shape}"
    squares, summary = expected_outputs(COUNT, label)
    outputs = [(steps["square"].id, "squares"), (steps["summarize"].id, "summary")]
    if kind == "decorator":
        outputs.append((run.id, "result"))  # the pipeline function's return value
    seen = cluster.read(*outputs)
    assert seen.pop(f"{steps['square'].id}:squares") == {"type": "ndarray", "value": squares}
    assert seen == {f"{task}:{name}": {"type": "dict", "value": summary} for task, name in outputs[1:]}
