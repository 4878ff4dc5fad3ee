"""The scheduler core driven through its two seams, with no process, agent, server or store.

`ScriptedExecutor` stands for where steps run: it records every start and the test decides
how each attempt ends (its outcome is scripted, or it runs until the test ends it or the
engine aborts it). `RecordingHost` stands for the pipeline run (`seams.Host`): it answers
`prepare` and `retry` as the test says and records every callback the engine makes. The
engine owns the node states; the tests assert on them, on the order of starts and on the
callbacks.

The last part drives the real `run.Run` (cache, retry policy, resume) with the same fake
executor; `Run` needs a backend, so those tests use the embedded store in a temporary home.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ductwork.core.queries import TaskQuery
from ductwork.core.states import NodeStatus
from ductwork.pipelines.engine import Engine
from ductwork.pipelines.node import Node
from ductwork.pipelines.seams import Outcome, Prepared

Report = Callable[[Node, str, Any], None]
# Long enough never to fire on a loaded machine; it only turns a hang into a failure.
HANG = 60.0


class ScriptedExecutor:
    """Starts nothing: each start is recorded, then ended by the script or by the test.

    `script[name]` holds the outcomes of that step's attempts, in order; an attempt without a
    scripted outcome runs until `end` or an abort."""

    def __init__(self, script: dict[str, list[Outcome]] | None = None) -> None:
        self.script = {name: list(outcomes) for name, outcomes in (script or {}).items()}
        self.started: list[str] = []
        self.aborted: list[str] = []
        self.closed = False
        self.report_abort = True  # False: an abort is heard, but the step ends only at `end`
        self._running: dict[str, tuple[Node, Report]] = {}
        self._changed = threading.Condition()

    def start(self, node: Node, report: Report) -> None:
        with self._changed:
            self.started.append(node.name)
            self._running[node.name] = (node, report)
            self._changed.notify_all()
        report(node, "running", None)
        outcomes = self.script.get(node.name)
        if outcomes:
            self.end(node.name, outcomes.pop(0))

    def abort(self, node: Node) -> None:
        self.aborted.append(node.name)
        if self.report_abort:
            self.end(node.name, Outcome("aborted", node.error))

    def close(self) -> None:
        self.closed = True

    def end(self, name: str, outcome: Outcome) -> None:
        with self._changed:
            node, report = self._running.pop(name)
        self.record(node, outcome)
        report(node, "done", outcome)

    def record(self, node: Node, outcome: Outcome) -> None:
        """What a real step leaves behind before its end is reported (nothing here)."""

    def wait_started(self, *names: str) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: all(n in self._running for n in names), HANG)
        assert ok, f"never started: {[n for n in names if n not in self._running]}"


class RecordingHost:
    """The pipeline side of the engine (`seams.Host`), answering as the test says."""

    def __init__(
        self,
        decisions: dict[str, str] | None = None,
        retries: int = 0,
    ) -> None:
        self.decisions = decisions or {}  # step -> what `prepare` answers (default "launch")
        self.retries = retries  # failed attempts retried per step
        self.prepared: list[str] = []
        self.finished_calls: list[tuple[str, str, Outcome | None]] = []
        self.transitions: dict[str, list[tuple[str, str]]] = {}  # step -> (previous, new) moves
        self.flushed: list[list[str]] = []
        self._seen: dict[str, int] = {}

    def prepare(self, node: Node) -> Prepared:
        self.prepared.append(node.name)
        decision = self.decisions.get(node.name, "launch")
        if decision == "cached":
            return Prepared("cached", task_id=f"earlier-{node.name}")
        if decision == "failed":
            return Prepared("failed", error="could not be prepared")
        return Prepared(decision, task_id=f"task-{node.name}-{node.attempt}")

    def created(self, node: Node) -> Prepared:
        return Prepared("launch")

    def retry(self, node: Node, outcome: Outcome) -> bool:
        return node.attempt < self.retries  # the engine counts the attempt

    def finished(self, node: Node, outcome: Outcome | None) -> None:
        self.finished_calls.append((node.name, node.status, outcome))

    def status_changed(self, node: Node, previous: str) -> None:
        self.transitions.setdefault(node.name, []).append((str(previous), str(node.status)))

    def flush(self, nodes: list[Node]) -> None:
        self.flushed.append([node.name for node in nodes])


def dag(*edges: tuple[str, Iterable[str]], **options: Any) -> list[Node]:
    """Nodes `name <- parents`, in the order given (a topological one)."""
    return [Node(name=name, parents=list(parents), **options) for name, parents in edges]


def run(
    nodes: list[Node],
    executor: ScriptedExecutor,
    host: RecordingHost | None = None,
    *,
    max_workers: int = 4,
    abort_on_failure: bool = False,
) -> tuple[Engine, RecordingHost]:
    host = host or RecordingHost()
    engine = Engine(host, executor, max_workers=max_workers, abort_on_failure=abort_on_failure)
    engine.start()
    for node in nodes:
        engine.add(node)
    engine.seal()
    return engine, host


def ended(engine: Engine) -> dict[str, str]:
    assert engine.wait(HANG), "the engine never finished"
    assert engine.error is None
    return {name: str(node.status) for name, node in engine.nodes.items()}


def done(value: Any = None) -> Outcome:
    return Outcome("completed", result=value)


def failed(message: str = "boom") -> Outcome:
    return Outcome("failed", message)


DIAMOND = (("a", ()), ("b", ("a",)), ("c", ("a",)), ("d", ("b", "c")))


# ---- a thread that handles its own steps (`pump`: debug mode's calls)


class HereExecutor(ScriptedExecutor):
    """Where a step's events come back `here`: reported and handled by the starting thread."""

    def __init__(self, engine_of: Callable[[], Engine]) -> None:
        super().__init__()
        self.engine_of = engine_of
        self.threads: list[str] = []

    def start(self, node: Node, report: Report) -> None:
        self.threads.append(threading.current_thread().name)
        engine = self.engine_of()
        engine.report_here(node, "running", None)
        engine.report_here(node, "done", done(node.name))


def test_a_pump_handles_its_steps_in_its_own_thread_and_the_loop_writes_their_states() -> None:
    host = RecordingHost()
    engine: Engine | None = None
    executor = HereExecutor(lambda: engine)  # type: ignore[arg-type,return-value]
    engine = Engine(host, executor, max_workers=4, abort_on_failure=False)
    engine.start()
    previous = None
    for i in range(50):  # a chain, each step added and handled here, as a debug call does
        node = Node(name=f"s{i}", parents=[previous] if previous else [])
        engine.add(node, here=True)
        engine.pump()
        assert engine.is_done(node.name)  # prepared, started, reported and ended: in place
        previous = node.name
    assert set(executor.threads) == {threading.current_thread().name}
    engine.seal()
    assert ended(engine) == {f"s{i}": "completed" for i in range(50)}
    written = {name for batch in host.flushed for name in batch}
    assert written == {f"s{i}" for i in range(50)}  # by the loop's thread, none lost


def wanted(engine: Engine) -> None:
    """Wait until the engine's loop waits for the turn."""
    deadline = time.monotonic() + HANG
    while not engine._wanted and time.monotonic() < deadline:
        time.sleep(0.001)
    assert engine._wanted, "the loop never asked for the turn"


def test_a_pump_gives_the_turn_to_a_loop_waiting_for_it() -> None:
    # A lock is not fair: a thread pumping its calls back to back would take the turn again
    # before the waiting loop wakes, and no state would be written until the burst ended.
    host = RecordingHost()
    executor = ScriptedExecutor({"a": [done()], "b": [done()]})
    engine = Engine(host, executor, max_workers=4, abort_on_failure=False)
    engine.start()
    with engine._turn:  # held, as by a thread between two pumps
        engine.add(Node(name="a"))  # an event for the loop, which now waits for the turn
        wanted(engine)
        engine.add(Node(name="b"), here=True)
        engine.pump()
        assert host.prepared == []  # the pump left it to the loop, whose turn comes first
    engine.seal()
    assert ended(engine) == {"a": "completed", "b": "completed"}
    assert host.prepared == ["a", "b"]


def test_a_call_inside_a_pump_is_handled_there_while_the_loop_waits() -> None:
    # The loop cannot have the turn before the outer pump ends: the inner one must not wait for it.
    host = RecordingHost()
    engine: Engine | None = None

    class Nested(HereExecutor):
        def start(self, node: Node, report: Report) -> None:
            assert engine is not None
            if node.name == "outer":  # as a callback inside the pump that calls a component
                engine.add(Node(name="loop's"))
                wanted(engine)
                engine.add(Node(name="inner"), here=True)
                engine.pump()
                assert engine.is_done("inner")
            super().start(node, report)

    engine = Engine(host, Nested(lambda: engine), max_workers=4, abort_on_failure=False)
    engine.start()
    engine.add(Node(name="outer"), here=True)
    engine.pump()
    engine.seal()
    assert ended(engine) == {"outer": "completed", "loop's": "completed", "inner": "completed"}


def test_a_pump_while_the_loop_holds_the_turn_leaves_its_events_to_the_loop() -> None:
    host = RecordingHost()
    engine = Engine(host, ScriptedExecutor({"a": [done()]}), max_workers=4, abort_on_failure=False)
    engine.start()
    node = Node(name="a")
    with engine._turn:  # the loop (or another pump) is at it
        worker = threading.Thread(target=lambda: (engine.add(node, here=True), engine.pump()))
        worker.start()
        worker.join(HANG)
        assert not engine.is_done("a")  # not handled by the pump, which could not take the turn
    engine.seal()
    assert ended(engine) == {"a": "completed"}  # the loop's thread handled it


def test_a_pump_that_fails_fails_the_run_as_the_loop_would() -> None:
    class Failing(RecordingHost):
        def prepare(self, node: Node) -> Prepared:
            raise RuntimeError("a bug in prepare")

    engine = Engine(Failing(), ScriptedExecutor(), max_workers=4, abort_on_failure=False)
    engine.start()
    engine.add(Node(name="a"), here=True)
    engine.pump()  # the failure goes to the loop's thread, not to the caller
    assert engine.wait(HANG)
    assert isinstance(engine.error, RuntimeError) and "a bug in prepare" in str(engine.error)


# ---- success


def test_a_diamond_runs_in_topological_order_with_fan_out_and_fan_in() -> None:
    executor = ScriptedExecutor({name: [done(name.upper())] for name in "abcd"})
    engine, host = run(dag(*DIAMOND), executor)

    assert ended(engine) == dict.fromkeys("abcd", "completed")
    assert executor.started[0] == "a" and executor.started[-1] == "d"
    assert sorted(executor.started[1:3]) == ["b", "c"]
    assert {name: node.result for name, node in engine.nodes.items()} == {n: n.upper() for n in "abcd"}
    # Each node moves through the same states, each move reported once, in order.
    moves = [("pending", "queued"), ("queued", "running"), ("running", "completed")]
    assert host.transitions == dict.fromkeys("abcd", moves)
    assert [name for name, _, _ in host.finished_calls] == executor.started
    assert all(outcome is not None and outcome.status == "completed" for *_, outcome in host.finished_calls)
    # The task that ran is recorded as the step's result task.
    assert {name: node.executed for name, node in engine.nodes.items()} == {n: f"task-{n}-0" for n in "abcd"}
    # Every state change reached the store-facing flush.
    assert {name for batch in host.flushed for name in batch} == set("abcd")


def test_fan_in_waits_for_every_parent() -> None:
    executor = ScriptedExecutor({"a": [done()], "c": [done()], "d": [done()]})
    engine, _ = run(dag(*DIAMOND), executor)

    executor.wait_started("b")
    assert engine.wait_node("c", HANG).status == NodeStatus.completed
    assert "d" not in executor.started and engine.nodes["d"].status == NodeStatus.pending
    executor.end("b", done())
    assert ended(engine)["d"] == "completed"


def test_max_workers_bounds_the_steps_running_at_once() -> None:
    executor = ScriptedExecutor()
    nodes = dag(("a", ()), ("b", ()), ("c", ()))
    engine, _ = run(nodes, executor, max_workers=2)

    executor.wait_started("a", "b")
    assert executor.started == ["a", "b"]
    executor.end("a", done())
    executor.wait_started("c")
    executor.end("b", done())
    executor.end("c", done())
    assert ended(engine) == dict.fromkeys("abc", "completed")


def test_steps_added_while_the_run_goes_on_are_scheduled() -> None:
    """Decorator pipelines add components as the pipeline function calls them."""
    executor = ScriptedExecutor({"a": [done(1)], "b": [done(2)]})
    host = RecordingHost()
    engine = Engine(host, executor, max_workers=2, abort_on_failure=False)
    engine.start()
    engine.add(Node(name="a"))
    assert engine.wait_node("a", HANG).result == 1
    engine.add(Node(name="b", parents=["a"]))
    assert engine.wait_node("b", HANG).result == 2
    engine.seal()
    assert ended(engine) == {"a": "completed", "b": "completed"}


# ---- failure


def test_a_failed_step_skips_its_descendants_and_independent_branches_go_on() -> None:
    executor = ScriptedExecutor({"a": [done()], "b": [failed("bad input")], "c": [done()], "x": [done()]})
    nodes = dag(*DIAMOND, ("e", ("d",)), ("x", ()), ("y", ("x",)))
    engine, host = run(nodes, executor)

    executor.wait_started("y")
    assert engine.wait_node("e", HANG).status == NodeStatus.skipped
    executor.end("y", done())
    states = ended(engine)
    assert states == {
        "a": "completed",
        "b": "failed",
        "c": "completed",
        "d": "skipped",
        "e": "skipped",
        "x": "completed",
        "y": "completed",
    }
    assert engine.nodes["b"].error == "bad input"
    assert "d" not in executor.started and "e" not in executor.started
    assert engine.nodes["d"].skip_job and engine.nodes["e"].skip_job
    # Skipped steps are never prepared, but the host hears that they ended.
    assert "d" not in host.prepared
    assert ("d", "skipped", None) in host.finished_calls
    assert host.transitions["d"] == [("pending", "skipped")]


def test_children_of_a_failed_step_run_when_it_does_not_skip_them() -> None:
    executor = ScriptedExecutor({"a": [failed()], "b": [done()]})
    nodes = dag(("a", ()), ("b", ("a",)))
    nodes[0].skip_children_on_fail = False
    engine, _ = run(nodes, executor)

    assert ended(engine) == {"a": "failed", "b": "completed"}


def test_abort_on_failure_stops_the_other_branches() -> None:
    executor = ScriptedExecutor({"b": [failed()]})
    nodes = dag(("a", ()), ("b", ()), ("c", ("a",)))
    engine, _ = run(nodes, executor, abort_on_failure=True)

    states = ended(engine)
    assert states == {"a": "aborted", "b": "failed", "c": "skipped"}
    assert executor.aborted == ["a"]
    assert "abort_on_failure" in engine.nodes["a"].error


def test_abort_on_failure_spares_a_step_that_may_fail() -> None:
    executor = ScriptedExecutor({"a": [done()], "b": [failed()]})
    nodes = dag(("a", ()), ("b", ()))
    nodes[1].continue_on_fail = True
    engine, _ = run(nodes, executor, abort_on_failure=True, max_workers=1)

    assert ended(engine) == {"a": "completed", "b": "failed"}
    assert executor.aborted == []


def test_a_step_that_cannot_be_prepared_or_started_fails_alone() -> None:
    class Unstartable(ScriptedExecutor):
        def start(self, node: Node, report: Report) -> None:
            if node.name == "b":
                raise OSError("no such interpreter")
            super().start(node, report)

    executor = Unstartable({"c": [done()]})
    host = RecordingHost(decisions={"a": "failed"})
    engine, _ = run(dag(("a", ()), ("b", ()), ("c", ())), executor, host)

    assert ended(engine) == {"a": "failed", "b": "failed", "c": "completed"}
    assert engine.nodes["a"].error == "could not be prepared"
    assert engine.nodes["b"].error == "could not start: OSError: no such interpreter"
    assert executor.started == ["c"]


# ---- retries


def test_a_crashing_step_is_retried_up_to_the_limit_and_then_fails() -> None:
    executor = ScriptedExecutor({"a": [failed("crash 1"), failed("crash 2"), failed("crash 3")]})
    engine, host = run(dag(("a", ()), ("b", ("a",))), executor, RecordingHost(retries=2))

    assert ended(engine) == {"a": "failed", "b": "skipped"}
    assert executor.started == ["a", "a", "a"]
    assert engine.nodes["a"].attempt == 2
    assert engine.nodes["a"].error == "crash 3"
    # Each attempt is prepared again (a new task); only the last end is final.
    assert host.prepared == ["a", "a", "a"]
    assert [(name, status) for name, status, _ in host.finished_calls] == [("a", "failed"), ("b", "skipped")]


def test_a_retry_that_succeeds_completes_the_step_and_its_children() -> None:
    executor = ScriptedExecutor({"a": [failed("crash"), done(7)], "b": [done()]})
    engine, host = run(dag(("a", ()), ("b", ("a",))), executor, RecordingHost(retries=3))

    assert ended(engine) == {"a": "completed", "b": "completed"}
    assert executor.started == ["a", "a", "b"]
    node = engine.nodes["a"]
    assert (node.attempt, node.result, node.error, node.executed) == (1, 7, "", "task-a-1")
    # A retried attempt never shows as failed. Its move back from running is not reported:
    # the callback hears pending -> queued after queued -> running.
    assert host.transitions["a"] == [
        ("pending", "queued"),
        ("queued", "running"),
        ("pending", "queued"),
        ("queued", "running"),
        ("running", "completed"),
    ]


def test_a_step_past_its_time_limit_is_aborted_and_counts_as_a_failed_attempt() -> None:
    executor = ScriptedExecutor()  # no attempt ends by itself
    nodes = dag(("a", ()))
    nodes[0].timeout = 0.01
    engine, host = run(nodes, executor, RecordingHost(retries=1))

    assert ended(engine) == {"a": "failed"}
    assert executor.started == ["a", "a"] and executor.aborted == ["a", "a"]
    assert engine.nodes["a"].error == "time limit of 0.01 s exceeded"
    assert engine.nodes["a"].attempt == 1
    assert [name for name, _, _ in host.finished_calls] == ["a"]


# ---- abort


def test_stop_aborts_running_steps_and_skips_waiting_ones() -> None:
    executor = ScriptedExecutor({"a": [done()]})
    nodes = dag(("a", ()), ("b", ("a",)), ("c", ("a",)), ("d", ("b", "c")))
    engine, host = run(nodes, executor, max_workers=1)

    executor.wait_started("b")
    engine.stop("stopped by the user")
    states = ended(engine)
    assert states == {"a": "completed", "b": "aborted", "c": "skipped", "d": "skipped"}
    assert executor.aborted == ["b"] and executor.started == ["a", "b"]
    assert engine.nodes["b"].error == "stopped by the user"
    assert ("b", "aborted", Outcome("aborted", "stopped by the user")) in host.finished_calls


def test_a_step_that_fails_while_the_run_stops_is_not_retried() -> None:
    executor = ScriptedExecutor()
    executor.report_abort = False  # the step takes its time to die
    engine, _ = run(dag(("a", ())), executor, RecordingHost(retries=5))

    executor.wait_started("a")
    engine.stop("stopped")
    executor.end("a", failed("killed"))
    assert ended(engine) == {"a": "failed"}
    assert executor.started == ["a"]


def test_a_step_added_after_the_run_ended_is_skipped_at_once() -> None:
    executor = ScriptedExecutor({"a": [done()]})
    engine, _ = run(dag(("a", ())), executor)
    ended(engine)

    late = Node(name="late")
    engine.add(late)
    assert engine.wait_node("late", HANG) is late
    assert late.status == NodeStatus.skipped and "already ended" in late.error
    assert executor.started == ["a"]


def test_a_step_added_while_the_run_stops_is_skipped() -> None:
    """It used to stay pending and keep the run open for ever (the engine's loop never ended)."""
    executor = ScriptedExecutor()
    executor.report_abort = False  # a process takes a moment to die
    host = RecordingHost()
    engine = Engine(host, executor, max_workers=2, abort_on_failure=False)
    engine.start()
    engine.add(Node(name="a"))
    executor.wait_started("a")
    engine.stop("stopped")
    engine.add(Node(name="late"))  # e.g. a decorator pipeline calling its next component
    executor.end("a", Outcome("aborted", "stopped"))
    assert ended(engine) == {"a": "aborted", "late": "skipped"}
    assert executor.started == ["a"]


def test_a_step_whose_parent_is_never_added_fails_when_the_run_is_sealed() -> None:
    """It used to wait for ever (a decorator component with `parents=["typo"]` hung its run)."""
    executor = ScriptedExecutor({"a": [done()]})
    nodes = dag(("a", ()), ("b", ("a", "typo")), ("c", ("b",)))
    engine, host = run(nodes, executor)

    assert ended(engine) == {"a": "completed", "b": "failed", "c": "skipped"}
    assert executor.started == ["a"]
    assert engine.nodes["b"].error == "its parent 'typo' is not a step of this pipeline"
    assert ("b", "failed", Outcome("failed", engine.nodes["b"].error)) in host.finished_calls


# ---- caching (the host decides; the engine does not start a cached step)


def test_a_cached_step_is_not_started_and_its_children_run() -> None:
    executor = ScriptedExecutor({"b": [done()]})
    host = RecordingHost(decisions={"a": "cached"})
    engine, _ = run(dag(("a", ()), ("b", ("a",))), executor, host)

    assert ended(engine) == {"a": "cached", "b": "completed"}
    assert executor.started == ["b"]
    assert engine.nodes["a"].executed == "earlier-a"
    assert host.transitions["a"] == [("pending", "cached")]
    assert ("a", "cached", None) in host.finished_calls


# ---- resume (steps already final when added are kept as they are)


def test_resume_runs_only_the_steps_not_yet_done() -> None:
    nodes = dag(*DIAMOND)
    for node in nodes[:2]:  # a and b completed in the earlier attempt of this run
        node.status, node.executed = NodeStatus.completed, f"earlier-{node.name}"
    executor = ScriptedExecutor({"c": [done()], "d": [done()]})
    engine, host = run(nodes, executor)

    assert ended(engine) == dict.fromkeys("abcd", "completed")
    assert executor.started == ["c", "d"]
    assert host.prepared == ["c", "d"]
    assert "a" not in host.transitions and "b" not in host.transitions
    assert engine.nodes["b"].executed == "earlier-b"


# ---- the real run (`run.Run` as the host) with the fake executor, on the embedded store


class StoredExecutor(ScriptedExecutor):
    """Ends each attempt's task in the store as a step process would: its returned values
    as artifacts, then its final status; only then is the end reported."""

    def record(self, node: Node, outcome: Outcome) -> None:
        from ductwork import client
        from ductwork.pipelines.runner import split_results, store_results

        backend, task_id = client.backend(), str(node.job_id)
        backend.set_status(task_id, "in_progress")
        if outcome.status == "completed":
            pairs = split_results(node.return_artifacts, outcome.result, node.name)
            store_results(backend, task_id, pairs, output_uri=None)
            backend.set_status(task_id, "completed")
        else:
            backend.set_status(task_id, "failed", reason=outcome.message, force=True)


@pytest.fixture
def executors(ductwork_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[StoredExecutor]]:
    """Every local run of a `PipelineController` gets the next of these executors (the test
    appends them), instead of one process per step."""
    from ductwork import PipelineController

    queue: list[StoredExecutor] = []

    def next_executor(pipe: PipelineController, mode: str) -> tuple[StoredExecutor, bool]:
        assert mode == "local", mode
        return queue.pop(0), False

    monkeypatch.setattr(PipelineController, "_executor", next_executor)
    yield queue
    assert not queue, "a scripted executor was never used"


def double(x: int) -> int:
    return x * 2


def two_steps(*, cache: bool = False, retries: int | None = None) -> Any:
    from ductwork import PipelineController

    pipe = PipelineController(name="seams", project="tests")
    pipe.add_parameter("x", 2)
    pipe.add_function_step(
        name="first",
        function=double,
        function_kwargs={"x": "${pipeline.x}"},
        function_return=["y"],
        cache_executed_step=cache,
        retry_on_failure=retries,
    )
    pipe.add_function_step(
        name="second", function=double, function_kwargs={"x": "${first.y}"}, function_return=["y"]
    )
    return pipe


def stored_states(run_id: str) -> dict[str, tuple[str, int]]:
    from ductwork import client

    return {state.name: (str(state.status), state.attempt) for state in client.backend().get_nodes(run_id)}


def test_the_run_retries_a_step_by_its_policy_and_counts_attempts(executors: list[StoredExecutor]) -> None:
    from ductwork import client

    executor = StoredExecutor({"first": [failed("crash 1"), failed("crash 2"), failed("crash 3")]})
    executors.append(executor)
    pipe = two_steps(retries=2)
    pipe.start_locally(run_pipeline_steps_locally=True)

    assert executor.started == ["first"] * 3 and executor.closed
    assert stored_states(pipe.id) == {"first": ("failed", 2), "second": ("skipped", 0)}
    node = pipe.get_pipeline_dag()["first"]
    assert node.error == "crash 3"
    # Each attempt was its own task, failed with its own reason.
    tasks = client.backend().query_tasks(TaskQuery(parent=pipe.id))
    reasons = sorted(task.status_reason for task in tasks if task.status == "failed")
    assert reasons == ["crash 1", "crash 2", "crash 3"]
    assert client.backend().get_task(pipe.id).status == "failed"


def test_a_cache_hit_is_not_started_and_its_recorded_outputs_are_used(
    executors: list[StoredExecutor],
) -> None:
    from ductwork import client
    from ductwork.pipelines.runner import REF_KEY

    first_run = StoredExecutor({"first": [done(4)], "second": [done(8)]})
    second_run = StoredExecutor({"second": [done(8)]})
    executors.extend([first_run, second_run])
    earlier = two_steps(cache=True)
    earlier.start_locally(run_pipeline_steps_locally=True)
    assert first_run.started == ["first", "second"]
    assert "never ran with caching" in earlier.get_pipeline_dag()["first"].cache_note

    pipe = two_steps(cache=True)
    pipe.start_locally(run_pipeline_steps_locally=True)

    assert second_run.started == ["second"]  # the hit was not started
    first, second = pipe.get_pipeline_dag()["first"], pipe.get_pipeline_dag()["second"]
    cached_task = earlier.get_pipeline_dag()["first"].executed
    assert (first.status, first.executed) == ("cached", cached_task)
    assert first.cache_note.startswith("cache hit")
    assert stored_states(pipe.id) == {"first": ("cached", 0), "second": ("completed", 0)}
    # The next step reads the output the cached task recorded.
    argument = client.backend().get_parameters(str(second.executed))["kwargs/x"].value
    assert REF_KEY in str(argument) and f"{cached_task}.y" in str(argument)
    assert client.backend().get_task(pipe.id).status == "completed"


def test_a_cache_miss_runs_the_step_and_says_why(executors: list[StoredExecutor]) -> None:
    runs = [StoredExecutor({"first": [done(4)], "second": [done(8)]}) for _ in range(2)]
    executors.extend(runs)
    two_steps(cache=True).start_locally(run_pipeline_steps_locally=True)
    pipe = two_steps(cache=True)
    pipe.add_parameter("x", 3)  # a new argument: another cache key
    pipe.start_locally(run_pipeline_steps_locally=True)

    assert runs[1].started == ["first", "second"]
    note = pipe.get_pipeline_dag()["first"].cache_note
    assert note.startswith("cache miss") and "kwargs/x" in note
    assert stored_states(pipe.id) == {"first": ("completed", 0), "second": ("completed", 0)}


def test_resume_starts_only_the_steps_that_did_not_succeed(executors: list[StoredExecutor]) -> None:
    from ductwork import PipelineController, client

    first_attempt = StoredExecutor({"first": [done(4)], "second": [failed("crash")]})
    resumed_attempt = StoredExecutor({"second": [done(8)]})
    executors.extend([first_attempt, resumed_attempt])
    pipe = two_steps()
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert stored_states(pipe.id) == {"first": ("completed", 0), "second": ("failed", 0)}
    first_task = pipe.get_pipeline_dag()["first"].executed

    resumed = PipelineController.resume(pipe.id)

    assert resumed_attempt.started == ["second"]
    nodes = resumed.get_pipeline_dag()
    assert (nodes["first"].status, nodes["first"].executed) == ("completed", first_task)
    assert nodes["second"].status == "completed" and nodes["second"].executed != first_task
    assert stored_states(pipe.id) == {"first": ("completed", 0), "second": ("completed", 0)}
    assert client.backend().get_task(pipe.id).status == "completed"
