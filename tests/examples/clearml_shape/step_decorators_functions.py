"""ClearML's examples/pipeline/decorated_pipeline_step_functions.py, in our own code: a user's
decorator (no functools.wraps) on a function step adds to its value; the next step checks it.

    python step_decorators_functions.py debug|local
"""

import sys

from ductwork import PipelineController


def plus_one(func):
    def function_wrapper(*args, **kwargs):
        return func(*args, **kwargs) + 1

    return function_wrapper


@plus_one
def one():
    return 1


def evaluate(step_return):
    print(f"result={step_return}")
    assert step_return == 2


if __name__ == "__main__":
    pipeline = PipelineController(name="step decorators functions", project="clearml shape")
    pipeline.add_function_step(name="one", function=one, function_return=["step_return"])
    pipeline.add_function_step(
        name="evaluate", function=evaluate, function_kwargs=dict(step_return="${one.step_return}")
    )
    if sys.argv[1] == "debug":
        pipeline.start_locally(in_process=True)
    else:
        pipeline.start_locally(run_pipeline_steps_locally=True)
    print("succeeded" if pipeline.is_successful() else "failed")
