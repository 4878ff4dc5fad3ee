"""PipelineDecorator: components, lazy values, concurrency, records, in debug and local modes."""

from __future__ import annotations

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineDecorator, Task
from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery

SCALE = 10


@PipelineDecorator.component(return_values=["y"])
def inc(x):
    print(f"inc got {x}")
    return x + 1


@PipelineDecorator.component(return_values=["low", "high"])
def split(n: int):
    return n - SCALE, n + SCALE


@PipelineDecorator.component(return_values=["total"])
def total(values):
    return sum(values)


@PipelineDecorator.component(return_values=["data"])
def make_table(rows: int):
    return {"rows": list(range(rows)), "kind": type(rows).__name__}


@PipelineDecorator.component(return_values=["slept"])
def nap(seconds: float):
    import time as clock

    start = clock.time()
    clock.sleep(seconds)
    return (start, clock.time())


def timed(function):
    """A user decorator under the component decorator."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


@PipelineDecorator.component(return_values=["doubled"])
@timed
def double(x):
    return 2 * x


@PipelineDecorator.pipeline(name="chain", project="tests")
def chain(n: int = 3, start: int = 0):
    x = start
    for _ in range(n):
        x = inc(x)
    return x


def test_chain_returns_the_value_and_records_every_step(mode: str) -> None:
    assert chain(n=4, start=1) == 5
    store = backend()
    runs = store.query_tasks(TaskQuery(type=["controller"]))
    assert len(runs) == 1 and runs[0].status == "completed"
    run = runs[0]
    params = store.get_parameters(run.id)
    assert params["Args/n"].value == 4 and params["Args/start"].value == 1  # types kept
    steps = store.query_tasks(TaskQuery(parent=run.id, order_by="created"))
    assert [s.name for s in steps] == ["inc", "inc_1", "inc_2", "inc_3"]
    assert all(s.status == "completed" for s in steps)
    nodes = {n.name: n for n in store.get_nodes(run.id)}
    assert {n.status for n in nodes.values()} == {"completed"}
    assert nodes["inc_1"].task_id == steps[1].id
    # the step's console, its code and its typed input
    lines = [line.text for line in store.get_console(steps[0].id)]
    assert "inc got 1" in lines
    assert "def inc(x):" in steps[0].script["code"]
    assert store.get_parameters(steps[0].id)["kwargs/x"].value == 1
    dag = store.get_configurations(run.id)["Pipeline"].text
    assert '"inc_3"' in dag and '"parents"' in dag


@PipelineDecorator.pipeline(name="lazy", project="tests")
def lazy_ops(n: int = 5):
    low, high = split(n)  # tuple unpacking of two return values
    values = [inc(i) for i in range(4)]  # a fan-out, then a list of lazies into one step
    summed = total(values)
    table = make_table(n)
    out = {
        "arith": low + 1,
        "radd": 1 + high,
        "compare": high > low,
        "bool": bool(summed),
        "str": str(summed),
        "index": table["rows"][2],
        "kind": table["kind"],
        "len": len(table["rows"]),
        "fmt": f"{high:03d}",
    }
    return out


def test_lazy_values_behave_like_their_values(mode: str) -> None:
    out = lazy_ops(n=5)
    assert out == {
        "arith": -4,
        "radd": 16,
        "compare": True,
        "bool": True,
        "str": "10",
        "index": 2,
        "kind": "int",
        "len": 5,
        "fmt": "015",
    }


@PipelineDecorator.pipeline(name="fan", project="tests")
def fan(width: int = 3, seconds: float = 0.6):
    spans = [nap(seconds) for _ in range(width)]
    return [tuple(s) for s in spans]


def test_independent_components_run_concurrently(home) -> None:
    """Local processes; debug mode calls each component in its caller's thread, one at a time
    (tests/pipelines/test_debug_pipeline.py)."""
    PipelineDecorator.run_locally()
    spans = fan(width=3, seconds=0.6)
    starts, ends = [s[0] for s in spans], [s[1] for s in spans]
    # all three were running at the same moment
    assert max(starts) < min(ends)


@PipelineDecorator.pipeline(name="stacked", project="tests")
def stacked(x: int = 4):
    return double(x)


def test_component_over_a_user_decorator(mode: str) -> None:
    assert stacked(x=21) == 42


@PipelineDecorator.pipeline(name="inner", project="tests")
def inner(x: int = 1):
    return inc(x)


@PipelineDecorator.pipeline(name="outer", project="tests")
def outer(x: int = 1):
    first = inner(x)  # a pipeline called from a pipeline: its own run, a child of this one
    return inc(first)


def test_pipeline_calling_a_pipeline(mode: str) -> None:
    assert outer(x=1) == 3
    store = backend()
    runs = {t.name: t for t in store.query_tasks(TaskQuery(type=["controller"]))}
    assert set(runs) == {"outer", "inner"}
    assert runs["inner"].parent == runs["outer"].id
    assert all(r.status == "completed" for r in runs.values())


def test_several_pipelines_in_one_process(home) -> None:
    PipelineDecorator.debug_pipeline()
    assert chain(n=2) == 2
    assert chain(n=3, start=10) == 13
    assert inner(x=5) == 6
    store = backend()
    names = sorted(t.name for t in store.query_tasks(TaskQuery(type=["controller"])))
    assert names == ["chain", "chain #2", "inner"]


def test_a_component_outside_a_pipeline_is_a_plain_call(home) -> None:
    assert inc(1) == 2
    assert backend().query_tasks(TaskQuery()) == []


@PipelineDecorator.component(return_values=["never"])
def boom(x):
    raise RuntimeError(f"bad input {x}")


@PipelineDecorator.pipeline(name="failing", project="tests")
def failing(x: int = 1):
    return boom(x) + 1


def test_using_a_failed_steps_value_fails_the_run(mode: str) -> None:
    with pytest.raises(ValueError, match='Pipeline step "boom"'):
        failing(x=3)
    store = backend()
    run = store.query_tasks(TaskQuery(type=["controller"]))[0]
    assert run.status == "failed"
    step = store.query_tasks(TaskQuery(parent=run.id))[0]
    assert step.status == "failed"
    console = "\n".join(line.text for line in store.get_console(step.id))
    assert "RuntimeError: bad input 3" in console


def test_bad_arguments_name_the_component(home) -> None:
    PipelineDecorator.debug_pipeline()

    @PipelineDecorator.pipeline(name="bad", project="tests")
    def bad():
        return inc(1, 2)

    with pytest.raises(ValidationError, match="component 'inc'"):
        bad()


def test_steps_can_report_to_their_pipeline(mode: str) -> None:
    @PipelineDecorator.pipeline(name="reporting", project="tests")
    def reporting(x: int = 2):
        return report_up(x)

    assert reporting(x=2) == 2
    store = backend()
    run = store.query_tasks(TaskQuery(type=["controller"]))[0]
    names = {a.name for a in store.get_artifacts(run.id)}
    assert "from_step" in names


@PipelineDecorator.component(return_values=["x"])
def report_up(x):
    from ductwork import PipelineDecorator as Pipe
    from ductwork import Task as T

    assert T.current_task() is not None
    Pipe.upload_artifact("from_step", {"x": x})
    Pipe.get_logger().report_scalar("from_step", "x", x, 0)
    return x


def test_a_200_step_debug_run_records_every_step(home) -> None:
    """Its speed is bench/bench_pipelines.py's to measure; here, that every step is recorded."""
    PipelineDecorator.debug_pipeline()
    assert chain(n=200) == 200
    assert len(backend().query_tasks(TaskQuery(type=["training"]))) == 200
    assert Task.current_task() is None


@PipelineDecorator.pipeline(name="mapped", project="tests", args_map={"Data": ["rows"]})
def mapped(rows: int = 3, scale: float = 2.0):
    return inc(rows * scale)


def test_args_map_puts_arguments_in_their_sections(home) -> None:
    PipelineDecorator.debug_pipeline()
    assert mapped(rows=4) == 9.0
    run = backend().query_tasks(TaskQuery(type=["controller"]))[0]
    params = backend().get_parameters(run.id)
    assert params["Data/rows"].value == 4 and params["Args/scale"].value == 2.0
    assert "Args/rows" not in params


@PipelineDecorator.component(return_values=["v"])
def leaf(i):
    return i


@PipelineDecorator.pipeline(name="wide", project="tests")
def wide(width: int = 10):
    return total([leaf(i) for i in range(width)])


def test_a_wide_fan_out_while_the_dag_is_recorded(home) -> None:
    """Thousands of components are added while the scheduler rewrites the stored DAG."""
    PipelineDecorator.debug_pipeline()
    assert wide(width=3000) == sum(range(3000))
    run = backend().query_tasks(TaskQuery(type=["controller"]))[0]
    assert run.status == "completed"
    nodes = backend().get_nodes(run.id)
    assert len(nodes) == 3001 and {n.status for n in nodes} == {"completed"}


@PipelineDecorator.pipeline(name="returning", project="tests", return_value="answer")
def returning(x: int = 1):
    return {"x": inc(x), "twice": 2 * inc(x)}


def test_the_pipeline_return_value_is_an_artifact_of_the_run(mode: str) -> None:
    result = returning(x=4)
    assert result == {"x": 5, "twice": 10} and type(result["x"]) is int  # plain values, not lazies
    run = backend().query_tasks(TaskQuery(type=["controller"]))[0]
    assert Task.get_task(task_id=run.id).artifacts["answer"].get() == {"x": 5, "twice": 10}
    assert run.status == "completed"
