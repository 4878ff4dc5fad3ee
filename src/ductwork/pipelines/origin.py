"""What a pipeline's controller task records so that a NEW RUN can build it again, by what
started it (`PipelineBase._script`):

* the user's own script: the script, run again with its arguments (as ClearML does);
* anything else (the CLI's `ductwork demo`, `python -c`, a notebook, pytest), where running the
  program again would not rebuild the pipeline:
  * a `@PipelineDecorator.pipeline` function importable from an installed module:
    `python -m ductwork.pipelines.rebuild MODULE:NAME --mode MODE` (`rebuild`), since its steps
    are known only once the function runs;
  * one no other process can import (defined in a notebook, in `__main__`, inside another
    function, or in a file of this machine only): the reason, which the API and the UI give
    instead of NEW RUN (`launch.CANNOT_RERUN`);
  * a `PipelineController`: its stored DAG (`ductwork.sdk.replay`), its steps being data.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ductwork.core import launch


@dataclass(frozen=True)
class _Starting:
    function: Callable[..., Any]  # the user's function under the @pipeline decorator
    mode: str
    queue: str | None


_starting: contextvars.ContextVar[_Starting | None] = contextvars.ContextVar(
    "ductwork_pipeline_function", default=None
)


@contextlib.contextmanager
def starting(function: Callable[..., Any], mode: str, queue: str | None) -> Iterator[None]:
    """While a @pipeline call makes its controller: the function, mode and default queue a
    NEW RUN uses again."""
    token = _starting.set(_Starting(function, mode, queue))
    try:
        yield
    finally:
        _starting.reset(token)


def rebuild_script() -> dict[str, Any]:
    """The `script` fields that build the pipeline being started again, for a start by anything
    other than the user's script."""
    started = _starting.get()
    if started is None:
        return {"module": launch.REPLAY}
    return script_for(started.function, started.mode, started.queue)


def script_for(function: Callable[..., Any], mode: str, queue: str | None) -> dict[str, Any]:
    """What rebuilds the pipeline of @pipeline function `function`, or why nothing can."""
    why = _not_importable(function)
    if why:
        return {launch.CANNOT_RERUN: f"it was started outside a script and {why}"}
    args = [f"{function.__module__}:{function.__qualname__}", "--mode", mode]
    return {"module": launch.REBUILD, "args": args + (["--queue", queue] if queue else [])}


def resolve(module: str, qualname: str) -> Any:
    """`module.qualname`, imported (ImportError or AttributeError when it is not there)."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _not_importable(function: Callable[..., Any]) -> str:
    from ductwork.sdk import script as scripts

    module, name = function.__module__, function.__qualname__
    where = f"its pipeline function {name!r}"
    if module == "__main__" or "<locals>" in name:
        return f"{where} is defined where no other process can import it ({module})"
    try:
        found = resolve(module, name)
    except (ImportError, AttributeError):
        return f"{where} cannot be imported as {module}:{name}"
    if getattr(found, "__wrapped__", None) is not function:
        return f"{module}:{name} is not the @pipeline function that started it"
    file = getattr(sys.modules[module], "__file__", None)
    if not file or not scripts.is_installed(file):
        return f"{where} lives in {file or module}, a file of this machine, not an installed module"
    return ""
