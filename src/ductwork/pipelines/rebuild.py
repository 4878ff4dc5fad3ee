"""A decorator pipeline built again from its function: `python -m ductwork.pipelines.rebuild
MODULE:NAME [--mode MODE] [--queue QUEUE]` with `DUCTWORK_TASK_ID` set to its controller task.

What a NEW RUN runs for a `@PipelineDecorator.pipeline` that something other than the user's
script started (`origin`): the function is imported by name and called as the controller task,
which gives it that run's arguments, in the mode and with the default queue of the first run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ductwork.core import settings
from ductwork.pipelines import origin

MODES = ("remote", "local", "debug")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ductwork.pipelines.rebuild")
    parser.add_argument("function", help="MODULE:NAME of the @PipelineDecorator.pipeline function")
    parser.add_argument("--mode", choices=MODES, default="remote")
    parser.add_argument("--queue", default=None, help="the default execution queue of its steps")
    options = parser.parse_args(argv)
    if not settings.task_id():
        print("ductwork.pipelines.rebuild: DUCTWORK_TASK_ID is not set", file=sys.stderr)
        return 2
    module, _, name = options.function.partition(":")
    try:
        pipeline = origin.resolve(module, name)
    except (ImportError, AttributeError) as exc:
        print(f"ductwork.pipelines.rebuild: cannot import {options.function}: {exc}", file=sys.stderr)
        return 2
    from ductwork.pipelines.decorator import PipelineDecorator

    if options.mode == "local":
        PipelineDecorator.run_locally()
    elif options.mode == "debug":
        PipelineDecorator.debug_pipeline()
    if options.queue:
        PipelineDecorator.set_default_execution_queue(options.queue)
    pipeline()  # attached to the controller task: its stored arguments are the call's
    return 0


if __name__ == "__main__":
    sys.exit(main())
