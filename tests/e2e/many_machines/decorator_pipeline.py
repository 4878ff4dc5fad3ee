"""A PipelineDecorator pipeline; consecutive steps run on different agents.

    python decorator_pipeline.py local|remote COUNT

`local`: this process is the controller (`start_controller_locally`), the steps go to their
queues. `remote`: the controller goes to the `services` queue. `make` and `summarize` run on
queue `alpha`, `square` between them on `beta`; the pipeline's result is its artifact `result`.
"""

import sys

from ductwork import PipelineDecorator

OFFSET = 3.0  # a module global the steps use: it travels with their captured code
SHAPE, COUNT = sys.argv[1], int(sys.argv[2])


@PipelineDecorator.component(return_values=["values"], execution_queue="alpha")
def make(count: int):
    import numpy as np

    return np.arange(count, dtype=float) + OFFSET


@PipelineDecorator.component(return_values=["squares", "total"], execution_queue="beta")
def square(values):
    return values * values, float(values.sum())


@PipelineDecorator.component(return_values=["summary"], execution_queue="alpha")
def summarize(squares, total: float, label: str):
    return {
        "label": label,
        "sum_of_squares": float(squares.sum()),
        "total": total,
        "count": int(squares.size),
    }


@PipelineDecorator.pipeline(
    name=f"decorator {SHAPE}",
    project="many machines",
    version="1.0.0",
    return_value="result",
    start_controller_locally=SHAPE == "local",
)
def chain(count: int, label: str):
    values = make(count)
    squares, total = square(values)
    return summarize(squares, total, label)


if __name__ == "__main__":
    chain(COUNT, f"decorator {SHAPE}")
