"""A pipeline whose one step runs on the Ray cluster until it is aborted.

python abort_pipeline.py
"""

from ductwork import PipelineController


def sleeper():
    import os
    import time

    print(f"sleeper pid={os.getpid()}", flush=True)
    while True:
        time.sleep(0.2)


pipe = PipelineController(name="ray abort", project="ray", version="1.0.0")
pipe.add_function_step("sleeper", sleeper, execution_queue="ray")
pipe.start_locally()
print("succeeded" if pipe.is_successful() else "failed")
