"""A fan-out pipeline whose steps run on the Ray cluster (queue `ray`).

    python fanout_pipeline.py

`square_0..2` (in parallel, each reporting a scalar) -> `total`; beside them
`special`, which asks for the custom resource `special` through its task's runtime
`resources` (set in a pre-execute callback), so it waits until a node with it joins.
"""

from ductwork import Logger, PipelineController


def square(count: int, index: int):
    value = list(range(1, count + 1))[index] ** 2
    Logger.current_logger().report_scalar("square", f"index {index}", value, iteration=0)
    print(f"square {index} = {value}")
    return value


def total(a, b, c):
    print(f"total = {a + b + c}")
    return a + b + c


def special():
    print("special step ran")
    return "special"


def ask_special(pipeline, node, parameters):
    node.task_overrides["runtime.resources"] = {"special": 1}
    return True


pipe = PipelineController(name="ray fan-out", project="ray", version="1.0.0")
pipe.set_default_execution_queue("ray")
pipe.add_parameter("count", 3)
for index in range(3):
    pipe.add_function_step(
        f"square_{index}",
        square,
        function_kwargs={"count": "${pipeline.count}", "index": index},
        function_return=["value"],
    )
pipe.add_function_step(
    "total",
    total,
    function_kwargs={"a": "${square_0.value}", "b": "${square_1.value}", "c": "${square_2.value}"},
    function_return=["total"],
)
pipe.add_function_step("special", special, function_return=["tag"], pre_execute_callback=ask_special)
pipe.start_locally()
print("succeeded" if pipe.is_successful() else "failed")
