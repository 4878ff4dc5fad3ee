"""A PipelineController of function steps; consecutive steps run on different agents.

    python function_pipeline.py local|remote COUNT

`local`: this process is the controller (`start_locally()`), the steps go to their queues.
`remote`: the controller goes to the `services` queue (`start()`). `make` and `summarize` run
on queue `alpha`, `square` between them on `beta`.
"""

import sys

from ductwork import PipelineController

OFFSET = 3.0  # a module global the steps use: it travels with their captured code


def make(count: int):
    import numpy as np

    return np.arange(count, dtype=float) + OFFSET


def square(values):
    return values * values, float(values.sum())


def summarize(squares, total: float, label: str):
    return {
        "label": label,
        "sum_of_squares": float(squares.sum()),
        "total": total,
        "count": int(squares.size),
    }


shape, count = sys.argv[1], int(sys.argv[2])
pipe = PipelineController(name=f"function {shape}", project="many machines", version="1.0.0")
pipe.add_parameter("count", count)
pipe.add_function_step(
    "make",
    make,
    function_kwargs={"count": "${pipeline.count}"},
    function_return=["values"],
    execution_queue="alpha",
)
pipe.add_function_step(
    "square",
    square,
    function_kwargs={"values": "${make.values}"},
    function_return=["squares", "total"],
    execution_queue="beta",
)
pipe.add_function_step(
    "summarize",
    summarize,
    function_kwargs={
        "squares": "${square.squares}",
        "total": "${square.total}",
        "label": f"function {shape}",
    },
    function_return=["summary"],
    execution_queue="alpha",
)
if shape == "remote":
    pipe.start(queue="services")
else:
    pipe.start_locally()
    print("succeeded" if pipe.is_successful() else "failed")
