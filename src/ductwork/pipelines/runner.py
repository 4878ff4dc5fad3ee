"""Runs one function step: its inputs in, its function called, its returns stored.

In-process steps (debug mode) are called with live values by `executors.InlineExecutor`. A
step process (local mode, or an agent) runs `python -m ductwork.sdk.runner` with
`DUCTWORK_TASK_ID` set: it reads the generated code and the arguments from the task itself, so
the task alone is enough to rerun it.

The task's parameters `kwargs/<arg>` (positional ones `kwargs/0`, `kwargs/1`, ...) are typed
values; any of them may hold `{"$ref": "<task_id>.<name>"}` markers, inside lists and dicts too
(a list of upstream results passed to a fan-in step): each stands for another task's output.

Two sections are kept for users who read a step's task the way ClearML lays it out (ductwork
itself never reads them): `kwargs_artifacts/<arg>` names, as `"<task_id>.<name>"`, the upstream
output an argument is wholly fed by; `return/<name>` holds each return value whose type is exactly
int, float, bool or str (as ClearML stores simple returns). Unlike ClearML, such a value is still
an artifact too: ductwork's route for every step input is the artifact.

Inputs are read, and returns stored, on the one route of every stored object (`transfer`): the
task's `output_uri`, else the server's storage, else the embedded home; read back directly where
this machine reaches the storage, through the server where it does not.

A pipeline's `artifact_serialization_function` / `artifact_deserialization_function` travel as
code, inside the step's generated module: code capture binds them there under the names
`artifact_serialization_function` and `artifact_deserialization_function` (their own source and
an alias for user functions, an import for installed ones), so the step task alone says how its
values are written and read, the UI shows it, and the cache key covers it. A step process that
finds them saves its returns with the first and loads its upstream values with the second.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ArtifactRecord, Param
from ductwork.core.runformat import RETURN_NAMES, STEP_ARGS
from ductwork.pipelines.batching import Call, calls_in_order

REF_KEY = "$ref"
# ClearML's parameter sections on a function step's task (see the module doc).
RETURN_SECTION = "return"
INPUT_ARTIFACTS = "kwargs_artifacts"
# ClearML's test is on the exact type: a bool is kept, a numpy float64 (a float subclass) is not.
SIMPLE_RETURNS = (int, float, bool, str)
# What a step's generated code names the pipeline's artifact functions (see the module doc).
SERIALIZE = "artifact_serialization_function"
DESERIALIZE = "artifact_deserialization_function"


@dataclass(frozen=True)
class Output:
    """A stored output of a step's task: what a `${step.name}` reference (or a decorator's lazy
    value) becomes once its step has a task, until the value is loaded. It is the one form inside
    the code; a step task's parameters hold it as a `{"$ref": "<task_id>.<name>"}` marker
    (`stored` / `from_stored`), the form stored runs keep."""

    task_id: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Output:
        """`"<task_id>.<name>"`, as a marker holds it."""
        task_id, sep, name = text.partition(".")
        if not sep or not task_id or not name:
            raise ValidationError(f"input reference {text!r} must look like '<task_id>.<name>'")
        return cls(task_id, name)

    def marker(self) -> dict[str, str]:
        return {REF_KEY: f"{self.task_id}.{self.name}"}

    def __str__(self) -> str:
        # Inside a longer text (`"run ${a.x}"`) a reference reads as the marker it is stored as.
        return str(self.marker())


def stored(value: Any) -> Any:
    """`value` as a step task's parameters store it: each `Output`, at any depth, as its marker."""
    return _rebuild(value, lambda item: item.marker() if isinstance(item, Output) else None)


def from_stored(value: Any) -> Any:
    """`value` read back from a step task's parameters: each marker, at any depth, as its `Output`."""
    return _rebuild(value, lambda item: Output.parse(item[REF_KEY]) if _is_marker(item) else None)


def replace_outputs(value: Any, load: Callable[[Output], Any]) -> Any:
    """`value` rebuilt with each `Output`, at any depth in lists, tuples and dicts, replaced by
    `load(output)`."""
    return _rebuild(value, lambda item: _Loaded(load(item)) if isinstance(item, Output) else None)


def outputs_in(value: Any, where: str) -> list[tuple[str, Output]]:
    """Each `Output` inside `value`, with where it is (`kwargs/x[0].key`)."""
    if isinstance(value, Output):
        return [(where, value)]
    if isinstance(value, (list, tuple)):
        return [pair for i, item in enumerate(value) for pair in outputs_in(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in outputs_in(item, f"{where}.{key}")]
    return []


@dataclass(frozen=True)
class _Loaded:
    value: Any  # a replacement, told apart from "no replacement" (None)


def _rebuild(value: Any, replace: Callable[[Any], Any]) -> Any:
    """`value` with each item `replace` answers for (not None) swapped, in lists, tuples, dicts."""
    kind = type(value)
    if kind is int or kind is str or kind is float or kind is bool or value is None:
        return value  # most arguments: nothing inside to swap, and no replacement is one of these
    swapped = replace(value)
    if swapped is not None:
        return swapped.value if isinstance(swapped, _Loaded) else swapped
    if isinstance(value, list):
        return [_rebuild(v, replace) for v in value]
    if isinstance(value, tuple):
        return tuple(_rebuild(v, replace) for v in value)
    if isinstance(value, dict):
        return {k: _rebuild(v, replace) for k, v in value.items()}
    return value


def _is_marker(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(REF_KEY), str)


def load_output(
    backend: Backend, reference: Output | str, *, deserialize: Callable[[bytes], Any] | None = None
) -> Any:
    """The value of an `Output` (or its text `"<task_id>.<name>"`): that task's artifact `<name>`.

    Read the way every stored object is read (`transfer.readable`): directly where this machine
    reaches the storage, else through the server into a hash-checked local cache."""
    output = reference if isinstance(reference, Output) else Output.parse(reference)
    record = find_artifact(backend, output.task_id, output.name)
    if record is not None:
        from ductwork.sdk import transfer

        return transfer.load(backend, record, deserialization_function=deserialize)
    raise NotFound(f"task {output.task_id} has no artifact or return value named {output.name!r}")


def find_artifact(backend: Backend, task_id: str, name: str) -> ArtifactRecord | None:
    return next((a for a in backend.get_artifacts(task_id) if a.name == name), None)


def resolve_inputs(backend: Backend, value: Any, deserialize: Callable[[bytes], Any] | None = None) -> Any:
    """A stored parameter's value with every upstream output in it loaded."""
    return replace_outputs(
        from_stored(value), lambda output: load_output(backend, output, deserialize=deserialize)
    )


def split_results(names: Sequence[str], result: Any, step: str) -> list[tuple[str, Any]]:
    """Pair the declared return names with what the function returned."""
    if not names:
        return []
    if len(names) == 1:
        return [(names[0], result)]
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        raise ValidationError(
            f"step {step!r} declares {len(names)} return values {list(names)} "
            f"but returned {type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        )
    return list(zip(names, result, strict=True))


def store_results(
    backend: Backend,
    task_id: str,
    pairs: list[tuple[str, Any]],
    *,
    output_uri: str | None,
    serialize: Callable[[Any], bytes] | None = None,
) -> None:
    """Every return value becomes an artifact (small ones inline in the store: no file)."""
    calls_in_order(backend, result_calls(backend, task_id, pairs, output_uri=output_uri, serialize=serialize))


def result_calls(
    backend: Backend,
    task_id: str,
    pairs: list[tuple[str, Any]],
    *,
    output_uri: str | None,
    serialize: Callable[[Any], bytes] | None = None,
) -> list[Call]:
    """The store calls that record a step's return values, their bytes already saved.

    Saved where every artifact goes (`transfer.save`): the task's `output_uri`, else the
    server's storage (uploaded through it when this machine cannot reach it), else the
    embedded home; a server records only locations in its own storage. A debug step makes
    these calls in the one batch that also completes its task."""
    from ductwork.sdk import transfer

    calls: list[Call] = []
    for name, value in pairs:
        # A returned string stays a string, even when it names a file.
        record = transfer.save(
            backend,
            task_id,
            output_uri,
            name,
            value,
            serialization_function=serialize,
            strings_as_paths=False,
        )
        record.metadata.setdefault("return", True)
        calls.append(("put_artifact", (record,), {}))
    simple = return_params(pairs)
    if simple:
        calls.append(("set_parameters", (task_id, simple), {}))
    return calls


def return_params(pairs: list[tuple[str, Any]]) -> dict[str, Param]:
    """The `return/<name>` parameters ClearML keeps for simple return values (see the module doc)."""
    return {
        f"{RETURN_SECTION}/{name}": Param(value=value, type=type(value).__name__)
        for name, value in pairs
        if type(value) in SIMPLE_RETURNS
    }


def arguments(
    params: dict[str, Param], backend: Backend, deserialize: Callable[[bytes], Any] | None = None
) -> tuple[list[Any], dict[str, Any]]:
    """The call's positional and keyword arguments from a step task's parameters (upstream
    values loaded with the pipeline's `deserialize`, when it has one)."""
    kwargs: dict[str, Any] = {}
    for key, param in params.items():
        section, _, name = key.partition("/")
        if section == STEP_ARGS:
            kwargs[name] = resolve_inputs(backend, param.value, deserialize)
    positional = sorted((k for k in kwargs if k.isdigit()), key=int)
    args = [kwargs.pop(k) for k in positional]
    return args, kwargs


def codec_bindings(
    serialize: Callable[[Any], bytes] | None, deserialize: Callable[[bytes], Any] | None
) -> tuple[tuple[str, Callable[..., Any]], ...]:
    """The names a step's generated module gives the pipeline's artifact functions (see the
    module doc), for `codegen.capture(..., bindings=...)`."""
    pairs = ((SERIALIZE, serialize), (DESERIALIZE, deserialize))
    return tuple((name, function) for name, function in pairs if function is not None)


def codecs_of(
    module: Any,
) -> tuple[Callable[[Any], bytes] | None, Callable[[bytes], Any] | None]:
    """The artifact (de)serialization functions a step's generated module defines, if any."""
    return getattr(module, SERIALIZE, None), getattr(module, DESERIALIZE, None)


def main() -> int:
    """A step process: run the task named by `DUCTWORK_TASK_ID` and store its returns."""
    from ductwork import client

    task_id = os.environ.get("DUCTWORK_TASK_ID")
    if not task_id:
        print("ductwork.sdk.runner: DUCTWORK_TASK_ID is not set", file=sys.stderr)
        return 2
    backend = client.backend()
    record, params = calls_in_order(
        backend, [("get_task", (task_id,), {}), ("get_parameters", (task_id,), {})]
    )
    script = record.script
    from ductwork.codegen import load

    module = load(script.get("code") or "")
    function = getattr(module, script["function"])
    serialize, deserialize = codecs_of(module)
    args, kwargs = arguments(params, backend, deserialize)
    from ductwork.sdk.capture import frameworks
    from ductwork.sdk.task import Task

    task = Task._from_record(record)
    frameworks.start_for(task)  # figures and TensorBoard writers report to the step, as after Task.init
    try:
        with Task._activate(task):
            result = function(*args, **kwargs)
        pairs = split_results(record.runtime.get(RETURN_NAMES) or [], result, record.name)
        store_results(backend, task_id, pairs, output_uri=record.output_uri, serialize=serialize)
        task.flush(wait_for_uploads=True)
    except BaseException as exc:
        traceback.print_exc()
        task.flush(wait_for_uploads=True)
        backend.set_status(task_id, "failed", reason=f"{type(exc).__name__}: {exc}", force=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
