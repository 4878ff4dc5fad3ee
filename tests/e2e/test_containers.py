"""Docker mode (`ductwork agent --docker IMAGE`) on separate machines: a server, an agent whose
tasks run in podman containers, a laptop that runs a pipeline.

Images are built here from this machine's own files (tests/containers.py): nothing is pulled,
and every agent runs with `--docker-pull never`. The containers share the host's network
namespace (`--network=host`), so the only traffic is to the server on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from containers import RUN_ARGS, Images, built_images, podman, remove_containers
from ductwork.core.records import TaskRecord
from machines import Machine, Machines, Server

QUEUE = "boxes"
# On the laptop: a pipeline of three function steps on the docker agent. `own` names its image,
# arguments and setup script; `default` runs in the agent's default image; `both` gets their
# results through the server. Prints what `both` returned.
PIPELINE = """
import json, sys

from ductwork import PipelineController, Task


def probe(label, forbidden):
    import os

    def read(path):
        try:
            with open(path) as handle:
                return handle.read().strip()
        except OSError as error:
            return type(error).__name__

    return {
        "label": label,
        "image": read("/etc/ductwork-image"),
        "setup": read("/tmp/setup-marker"),
        "greeting": os.environ.get("SETUP_GREETING", ""),
        "from_args": os.environ.get("FROM_ARGS", ""),
        "container": os.path.exists("/run/.containerenv"),
        "agent_home": os.path.exists(forbidden),
        "key_given": bool(os.environ.get("DUCTWORK_API_KEY")),
    }


def both(own, default):
    return [own, default]


pipe = PipelineController(name="containers", project="containers", version="1.0.0")
pipe.add_function_step(
    "own",
    probe,
    function_kwargs={"label": "own", "forbidden": sys.argv[2]},
    function_return=["seen"],
    execution_queue="boxes",
    docker=sys.argv[1],
    docker_args="--env FROM_ARGS=yes --shm-size 64m",
    docker_bash_setup_script="echo from-setup > /tmp/setup-marker\\nexport SETUP_GREETING=hello",
)
pipe.add_function_step(
    "default",
    probe,
    function_kwargs={"label": "default", "forbidden": sys.argv[2]},
    function_return=["seen"],
    execution_queue="boxes",
)
pipe.add_function_step(
    "both",
    both,
    function_kwargs={"own": "${own.seen}", "default": "${default.seen}"},
    function_return=["both"],
    execution_queue="boxes",
)
pipe.start_locally()
node = pipe.get_pipeline_dag()["both"]
seen = Task.get_task(task_id=node.executed).artifacts["both"].get() if pipe.is_successful() else "failed"
print(json.dumps(seen))
"""


@dataclass
class Cluster:
    server: Server
    agent: Machine
    laptop: Machine
    images: Images
    alice: Any  # the test's HTTP backend with alice's key (a user, as on her laptop)

    def enqueue(self, code: str, queue: str = QUEUE, **container: str) -> TaskRecord:
        """A standalone script task in `container` (image, arguments, setup_shell_script)."""
        task = self.alice.create_task(
            TaskRecord(
                name=f"boxed {uuid.uuid4().hex[:6]}",
                script={"code": code, "entry_point": "main.py"},
                container=dict(container),
            )
        )
        self.alice.enqueue(task.id, queue)
        return task

    def console(self, task_id: str) -> str:
        return "\n".join(line.text for line in self.server.api.get_console(task_id))


@pytest.fixture(scope="module")
def cluster(module_machines: Machines) -> Iterator[Cluster]:
    images = built_images()
    server = module_machines.server()
    agent = module_machines.agent(
        "docker-box",
        [QUEUE],
        same_env=False,
        args=[
            "--docker",
            images.default,
            "--docker-pull",
            "never",
            f"--docker-run-args={RUN_ARGS}",
            "--docker-allow-arg",
            "--read-only",
            "--docker-allow-image",
            "localhost/ductwork-test:*",
        ],
    )
    laptop = module_machines.client("laptop")
    yield Cluster(server, agent, laptop, images, server.backend(server.user_key))
    for name in ("docker-box", "doomed-box"):
        remove_containers(f"ductwork.agent={name}")


def test_pipeline_steps_run_in_their_containers(cluster: Cluster) -> None:
    output = cluster.laptop.run(PIPELINE, cluster.images.step, str(cluster.agent.home))
    assert output.strip().splitlines()[-1] != '"failed"', cluster.agent.log("agent.log")
    own, default = json.loads(output.strip().splitlines()[-1])

    # The step's own image, arguments and setup script (whose export reached the step).
    assert own["image"] == "step" and own["container"] is True
    assert own["setup"] == "from-setup" and own["greeting"] == "hello" and own["from_args"] == "yes"
    # The agent's default image, no setup script; neither sees the agent machine's home.
    assert default["image"] == "default" and default["container"] is True
    assert default["setup"] == "FileNotFoundError" and default["from_args"] == ""
    assert own["agent_home"] is False and default["agent_home"] is False
    assert own["key_given"] and default["key_given"]  # the server is reached with a key


def test_a_missing_image_fails_the_task_naming_it(cluster: Cluster) -> None:
    missing = "localhost/ductwork-test:no-such-image"
    task = cluster.enqueue("print('ran')", image=missing)

    done = cluster.server.wait_final(task.id)

    assert done.status == "failed", cluster.console(task.id)
    assert missing in done.status_message
    assert "ran" not in cluster.console(task.id).splitlines()


@pytest.mark.parametrize(
    "arguments",
    [
        "--privileged",
        "-v /:/host",
        "-v/:/host",
        "--volume=/:/host",
        "--mount type=bind,source=/,target=/host",
        "--cap-add=ALL",
        "--pid host",
        "--network=bridge",
        "--security-opt seccomp=unconfined",
        "--device /dev/sda",
        "-e DUCTWORK_API_URL=http://example.com",
        "-e DUCTWORK_API_KEY",
        "--env AWS_SECRET_ACCESS_KEY",
        "--entrypoint sh",
        "--name other",
        "alpine sh -c id",
        "--env A=1 --privileged",
        "-it -v /:/host",
        "--env 'unbalanced",
    ],
)
def test_hostile_docker_args_fail_the_task_before_a_container_starts(
    cluster: Cluster, arguments: str
) -> None:
    task = cluster.enqueue("print('ran')", arguments=arguments)

    done = cluster.server.wait_final(task.id)

    assert done.status == "failed", cluster.console(task.id)
    assert "docker_args" in done.status_message
    assert "ran" not in cluster.console(task.id).splitlines()


@pytest.mark.parametrize("image", ["localhost/other:1", "docker.io/library/python:3.11", "--privileged"])
def test_an_image_the_agent_does_not_allow_fails_the_task(cluster: Cluster, image: str) -> None:
    task = cluster.enqueue("print('ran')", image=image)

    done = cluster.server.wait_final(task.id)

    assert done.status == "failed", cluster.console(task.id)
    assert image in done.status_message and "not" in done.status_message
    assert "ran" not in cluster.console(task.id).splitlines()


def test_arguments_the_agent_allows_are_applied(cluster: Cluster) -> None:
    """SAFE flags and the operator's `--docker-allow-arg --read-only` reach the container."""
    code = (
        "import os\n"
        "try:\n    open('/etc/written', 'w')\nexcept OSError as error:\n    print('read-only', error.errno)\n"
        "print('env', os.environ.get('LABEL_ME'))\n"
    )
    task = cluster.enqueue(code, arguments="--read-only -e LABEL_ME=yes --label team=a")

    done = cluster.server.wait_final(task.id)

    console = cluster.console(task.id)
    assert done.status == "completed", console
    assert "read-only 30" in console and "env yes" in console  # EROFS


def test_a_repository_task_runs_in_its_checkout_inside_the_container(cluster: Cluster) -> None:
    """The agent clones on its machine; the container gets the checkout (its root importable)
    and runs in the task's working_dir inside it."""
    repository = cluster.agent.work / "project"
    (repository / "jobs").mkdir(parents=True)
    (repository / "shared.py").write_text("WHERE = 'from the checkout'\n")
    (repository / "jobs" / "main.py").write_text(
        "import os, shared\n"
        "print(shared.WHERE, os.path.basename(os.getcwd()), open('/etc/ductwork-image').read())\n"
    )
    for command in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *command], cwd=repository, check=True, capture_output=True)
    task = cluster.alice.create_task(
        TaskRecord(
            name="boxed checkout",
            script={"repository": str(repository), "entry_point": "main.py", "working_dir": "jobs"},
        )
    )
    cluster.alice.enqueue(task.id, QUEUE)

    done = cluster.server.wait_final(task.id)

    assert done.status == "completed", cluster.console(task.id)
    assert "from the checkout jobs default" in cluster.console(task.id)


def test_abort_kills_the_container(cluster: Cluster) -> None:
    """The task ignores SIGTERM: the engine's process is killed after the grace period and
    the container, which a killed engine leaves running, is removed by name."""
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('started', flush=True)\ntime.sleep(300)\n"
    )
    task = cluster.enqueue(code)
    _wait(lambda: "started" in cluster.console(task.id).splitlines(), "the task to start")
    assert _containers(task.id), "no container runs the task"

    cluster.server.api.abort_task(task.id)

    assert cluster.server.wait_final(task.id).status == "stopped"
    _wait(lambda: not _containers(task.id), "the container to be removed")


def test_a_killed_agent_takes_its_container_with_it(cluster: Cluster, module_machines: Machines) -> None:
    """SIGKILL for the agent: its engine process gets SIGTERM and passes it to the container."""
    doomed = module_machines.agent(
        "doomed-box",
        ["doomed"],
        same_env=False,
        args=["--docker", cluster.images.default, "--docker-pull", "never", f"--docker-run-args={RUN_ARGS}"],
    )
    task = cluster.enqueue("import time\nprint('started', flush=True)\ntime.sleep(300)\n", queue="doomed")
    _wait(lambda: "started" in cluster.console(task.id).splitlines(), "the task to start")
    assert _containers(task.id), "no container runs the task"

    doomed.processes[0].kill()

    _wait(lambda: not _containers(task.id, running=True), "the container to end with its agent")


def test_no_container_engine_is_a_clear_error(cluster: Cluster, module_machines: Machines) -> None:
    """docker installed without a running daemon (as here), podman not installed."""
    bare = module_machines.client("bare", key=cluster.server.agent_key)
    bin_folder = bare.root / "bin"
    bin_folder.mkdir()
    docker = bin_folder / "docker"
    docker.write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\nexit 1\n"
    )
    docker.chmod(0o755)

    done = bare.execute(
        [
            "env",
            f"PATH={bin_folder}",
            sys.executable,
            "-m",
            "ductwork",
            "agent",
            "--docker",
            "--queue",
            QUEUE,
        ],
        check=False,
    )

    assert done.returncode != 0
    assert "docker mode needs a working container engine" in done.stderr
    assert "Cannot connect to the Docker daemon" in done.stderr and "podman is not installed" in done.stderr


def _containers(task_id: str, running: bool = False) -> list[str]:
    """The containers of task `task_id` (`running`: only those still running), found by the
    label the agent gives them, each as "name state"."""
    which = ["--filter", f"label=ductwork.task={task_id}", "--format", "{{.Names}}:{{.State}}"]
    listing = subprocess.run(
        [podman(), "ps", *([] if running else ["--all"]), *which],
        capture_output=True,
        text=True,
        check=True,
    )
    return listing.stdout.split()


def _wait(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    engine = subprocess.run([podman(), "ps", "--all"], capture_output=True, text=True).stdout
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; podman ps --all:\n{engine}")
