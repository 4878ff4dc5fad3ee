"""API fuzzing from the OpenAPI schema against a real server: zero 5xx.

Every operation of `/api/openapi.json` gets schemathesis cases, valid and invalid ones, sent
with the admin's key, an ordinary user's key and no key. Random ids rarely name a real
object, so before each operation the server is seeded with real ones (a project, tasks with
parameters, configuration, console, metrics, an uploaded artifact, a model, a queue with an
entry, a pipeline run with steps, a worker), and path parameters, ids inside bodies and queue
or worker names are drawn from those most of the time.

Bounded in time: `DUCTWORK_FUZZ_SECONDS` (default 60) for the whole test, split between
the databases and evenly over the operations; derandomized, so a run repeats itself. For a
broader search: `DUCTWORK_FUZZ_SECONDS=1800 DUCTWORK_FUZZ_RANDOM=1`.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from attack import DATABASES, ServerProcess, serve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

SECONDS = float(os.environ.get("DUCTWORK_FUZZ_SECONDS", "60"))
RANDOM = os.environ.get("DUCTWORK_FUZZ_RANDOM") == "1"
REAL = 0.8  # how often a path parameter or an id in a body names a real object
# Long polls and streams hold a request open by design: answered or held, not failed.
REQUEST_TIMEOUT_S = 10


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of this module's own on each database: the fuzz leaves thousands of odd objects
    behind, and its check for tracebacks reads everything this server printed."""
    yield from serve(request, tmp_path_factory)


class _OutOfTime(Exception):
    """Ends an operation's examples when its share of the budget is spent."""


@dataclass
class Pools:
    """Real ids and names on the server, by the parameter or field that takes them."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, *found: str) -> None:
        self.values.setdefault(name, []).extend(found)

    def pick(self, name: str, chooser: random.Random) -> str | None:
        found = self.values.get(name)
        return chooser.choice(found) if found and chooser.random() < REAL else None


@dataclass
class Tally:
    cases: int = 0
    held: int = 0  # long polls and streams still open at the timeout
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _seed(server: ServerProcess, pools: Pools) -> None:
    """Fresh real objects of alice's (so the admin acts on someone else's, alice on her own)."""
    tag = uuid.uuid4().hex[:8]
    with server.client(server.alice.key) as alice, server.client(server.admin.key) as admin:
        project = alice.post("/api/projects", json={"name": f"fuzz/{tag}"}).json()["id"]
        task = alice.post("/api/tasks", json={"name": f"fuzz {tag}", "project": project}).json()["id"]
        other = alice.post("/api/tasks", json={"name": f"fuzz other {tag}"}).json()["id"]
        alice.put(
            f"/api/tasks/{task}/parameters", json={"params": {"Args/lr": {"value": 0.1, "type": "float"}}}
        )
        alice.put(f"/api/tasks/{task}/configuration", json={"name": "config", "text": "a: 1"})
        alice.post("/api/console", json=[{"task_id": task, "text": "hello\n"}])
        event = {
            "task_id": task,
            "kind": "scalar",
            "title": "loss",
            "series": "train",
            "iteration": 1,
            "value": 0.5,
        }
        alice.post("/api/metrics", json=[event])
        blob = alice.put(
            f"/api/tasks/{task}/artifacts/data/content", content=b'{"a": 1}', params={"ext": ".json"}
        )
        if blob.status_code == 200:
            record = {"task_id": task, "name": "data", "type": "json", **blob.json()}
            alice.put(f"/api/tasks/{task}/artifacts", json=record)
        model = alice.post("/api/models", json={"name": f"model {tag}", "task_id": task}).json()["id"]
        alice.post(f"/api/tasks/{task}/models", json={"task_id": task, "model_id": model, "role": "output"})
        queue = f"fuzz-{tag}"
        admin.post("/api/queues", json={"name": queue})
        alice.post(f"/api/queues/{queue}/entries", json={"task_id": other, "priority": 1})
        run = alice.post(
            "/api/tasks", json={"name": f"run {tag}", "type": "controller", "system_tags": ["pipeline"]}
        ).json()["id"]
        alice.post(
            "/api/nodes", json=[{"run_id": run, "name": "step", "status": "completed", "task_id": task}]
        )
        worker = f"host:{tag}"
        admin.post("/api/workers", json={"id": worker, "queues": [queue]})
    pools.add("task_id", task, other, run)
    pools.add("run_id", run, task)
    pools.add("project_id", project)
    pools.add("project", project)
    pools.add("model_id", model)
    pools.add("queue", queue)
    pools.add("queues", queue)
    pools.add("worker", worker)
    pools.add("worker_id", worker)
    pools.add("artifact", "data")


def _realise(case: Any, pools: Pools, chooser: random.Random) -> None:
    """Point the case at real objects: path parameters, and ids and names inside the body."""
    path = case.operation.path
    for name in list(case.path_parameters or {}):
        kind = name
        if name == "name":
            kind = "artifact" if "/artifacts/" in path else "queue"
        real = pools.pick(kind, chooser)
        if real is not None:
            case.path_parameters[name] = real
    if (
        path == "/api/claims"
        and isinstance(case.body, dict)
        and isinstance(case.body.get("wait"), (int, float))
    ):
        case.body["wait"] = 0  # a valid long poll would hold the call for up to a minute
    case.body = _real_body(case.body, pools, chooser, 0)


def _real_body(value: Any, pools: Pools, chooser: random.Random, depth: int) -> Any:
    if depth > 4:
        return value
    if isinstance(value, list):
        return [_real_body(item, pools, chooser, depth + 1) for item in value]
    if isinstance(value, dict):
        changed = {}
        for key, member in value.items():
            if isinstance(member, str) and key in pools.values:
                real = pools.pick(key, chooser)
                changed[key] = member if real is None else real
            elif key == "queues" and isinstance(member, list):
                real = pools.pick("queues", chooser)
                changed[key] = member if real is None else [real]
            else:
                changed[key] = _real_body(member, pools, chooser, depth + 1)
        return changed
    return value


def _fuzz_operation(
    operation: Any, server: ServerProcess, pools: Pools, ends: float, tally: Tally, seed: int
) -> None:
    identities = [server.admin.key, server.alice.key, None]
    strategy = st.tuples(
        st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        ),
        st.integers(0, 2**32),  # a seed, not st.randoms(): every draw happens before the call
        st.sampled_from(range(len(identities))),
    )
    session = requests.Session()

    @settings(
        max_examples=100_000 if RANDOM else 400,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is recorded, not minimised
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(drawn=strategy)
    def example(drawn: tuple[Any, int, int]) -> None:
        if time.monotonic() > ends:
            raise _OutOfTime
        case, chosen, who = drawn
        _realise(case, pools, random.Random(chosen))
        key = identities[who]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        tally.cases += 1
        try:
            answer = case.call(
                base_url=server.url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S
            )
        except requests.exceptions.ReadTimeout:
            tally.held += 1
            return
        tally.statuses[answer.status_code] = tally.statuses.get(answer.status_code, 0) + 1
        if answer.status_code >= 500:
            tally.failures.append(
                f"{operation.method.upper()} {operation.path} -> {answer.status_code} {answer.text[:200]}\n"
                f"    {case.as_curl_command(headers=headers)[:600]}"
            )

    try:
        example()
    except _OutOfTime:
        pass
    finally:
        session.close()


# The budget, plus seeding and the slowest last calls (a broad run sets a budget above the
# suite's 300 s timeout).
@pytest.mark.timeout(SECONDS / len(DATABASES) + 240)
def test_fuzzing_the_api_finds_no_server_error(server: ServerProcess) -> None:
    with server.client(server.admin.key) as admin:
        spec = admin.get("/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the schema lists the API's operations"
    budget = SECONDS / len(DATABASES)
    started = time.monotonic()
    tally = Tally()
    pools = Pools()
    for index, operation in enumerate(operations):
        _seed(server, pools)
        left = budget - (time.monotonic() - started)
        ends = time.monotonic() + max(left / (len(operations) - index), 0.2)
        _fuzz_operation(operation, server, pools, ends, tally, index)
    spent = time.monotonic() - started
    summary = (
        f"{tally.cases} cases over {len(operations)} operations in {spent:.0f} s; "
        f"statuses {dict(sorted(tally.statuses.items()))}; {tally.held} long polls or streams held"
    )
    print(summary)
    assert not tally.failures, summary + "\n" + "\n".join(tally.failures[:20])
    assert httpx.get(f"{server.url}/api/health", timeout=30).json()["status"] == "ok"
    server_errors = [line for line in server.output if "Traceback" in line]
    assert not server_errors
