"""ClearML's examples/pipeline/decorated_pipeline_step_decorators.py, in our own code: a user's
decorator (no functools.wraps) under a component adds to the step's value; the pipeline
checks the decorated value and prints it.

    python step_decorators_decorator.py debug|local
"""

import sys

from ductwork import PipelineDecorator


def plus_one(func):
    def function_wrapper(*args, **kwargs):
        return func(*args, **kwargs) + 1

    return function_wrapper


@PipelineDecorator.component()
@plus_one
def one():
    return 1


@PipelineDecorator.pipeline(name="step decorators", project="clearml shape")
def pipeline():
    result = one()
    print(f"result={result}")
    assert result == 2


if __name__ == "__main__":
    if sys.argv[1] == "debug":
        PipelineDecorator.debug_pipeline()
    else:
        PipelineDecorator.run_locally()
    pipeline()
