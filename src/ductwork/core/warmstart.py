"""What a function step runs, and what a warm interpreter imports once to fork it quickly.

Local mode (`pipelines.executors.ProcessExecutor`) and `--same-env` agents
(`agent.process.Launcher`) both keep a `process.WarmPool` for function steps; they name the
modules here, as text: the process layer imports none of them itself.
"""

# The entry point stored function-step tasks name (`script.module`): `python -m` this.
RUNNER = "ductwork.sdk.runner"
# Imported by the fork server before it forks a step: the runner, the Task API, the pipe
# transport and the artifact store (not RUNNER itself: runpy runs it afresh as __main__), and
# what the runner imports when it runs (loading the step's code, framework capture, waiting for
# uploads): a module a child imports itself costs every step again.
RUNNER_IMPORTS = (
    "ductwork.artifacts.store",
    "ductwork.client.pipe",
    "ductwork.pipelines.runner",
    "ductwork.sdk.task",
    "ductwork.codegen",
    "ductwork.sdk.capture.matplotlib",
    "ductwork.sdk.capture.tensorboard",
    "concurrent.futures",
)
