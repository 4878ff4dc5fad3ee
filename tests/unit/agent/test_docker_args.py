"""A task's docker_args against an agent's allow-list (ductwork.agent.docker_args), and the
names docker mode refuses before any engine runs (ductwork.agent.container)."""

from __future__ import annotations

import pytest

from ductwork.agent.container import ContainerError, allowed_image, checked_image, find_engine
from ductwork.agent.docker_args import ALL, SAFE, DockerArgsError, allow_list, checked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("--env A=1 --shm-size 1g", ["--env", "A=1", "--shm-size", "1g"]),
        ("--env=A=1 -eB=2 -e=C=3 -e D=", ["--env", "A=1", "-e", "B=2", "-e", "C=3", "-e", "D="]),
        ("--init -m 512m --cpus=2", ["--init", "-m", "512m", "--cpus", "2"]),
        ("--label 'team=data science'", ["--label", "team=data science"]),
    ],
)
def test_safe_arguments_pass_in_every_spelling(text: str, expected: list[str]) -> None:
    assert checked(text, SAFE) == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("--privileged", "--privileged"),
        ("--privileged=true", "--privileged"),
        ("-v /:/host", "-v"),
        ("-v/:/host", "-v"),
        ("-v=/:/host", "-v"),
        ("--volume=/:/host", "--volume"),
        ("--mount type=bind,source=/,target=/host", "--mount"),
        ("--cap-add ALL", "--cap-add"),
        ("--pid=host", "--pid"),
        ("--ipc host", "--ipc"),
        ("--network bridge", "--network"),
        ("--userns=host", "--userns"),
        ("--security-opt seccomp=unconfined", "--security-opt"),
        ("--device=/dev/sda", "--device"),
        ("-it -v /:/host", "-i"),
        ("-v /:/host -it", "-v"),
        ("--env A=1 --privileged", "--privileged"),
        ("-e DUCTWORK_API_URL=http://example.com", "DUCTWORK_API_URL"),
        ("--env=ductwork_api_key=stolen", "ductwork_api_key"),
        ("-e AWS_SECRET_ACCESS_KEY", "needs a value"),
        ("--env=AWS*", "needs a value"),
        ("-eHOME", "needs a value"),
        ("--entrypoint sh", "--entrypoint"),
        ("--name other", "--name"),
        ("-w /", "-w"),
        ("-d", "-d"),
        ("--pull=always", "--pull"),
        ("alpine sh -c id", "'alpine'"),
        ("--env A=1 alpine", "'alpine'"),
        ("-- --privileged", "'--'"),
        ("--shm-size", "--shm-size needs a value"),
        ("--env 'unbalanced", "cannot be split"),
    ],
)
def test_hostile_arguments_are_refused_naming_what(text: str, named: str) -> None:
    with pytest.raises(DockerArgsError, match="docker_args") as refused:
        checked(text, SAFE)
    assert named in str(refused.value)


def test_an_operator_allows_more_flags_or_everything() -> None:
    allowed = allow_list(["-v", "ipc", "--read-only"])
    assert {"-v", "--ipc", "--read-only"} < allowed and allowed > SAFE
    assert checked("-v /data:/data:ro --ipc=host --read-only", allowed) == [
        "-v",
        "/data:/data:ro",
        "--ipc",
        "host",
        "--read-only",
    ]
    with pytest.raises(DockerArgsError, match="--privileged"):
        checked("--privileged", allowed)
    with pytest.raises(DockerArgsError, match="--name"):  # the agent's own flags stay refused
        checked("--name x", allow_list(["--name"]))
    # `all` is ClearML's behaviour: everything passes through as written.
    assert checked("--privileged -v /:/host", allow_list([ALL])) == ["--privileged", "-v", "/:/host"]


@pytest.mark.parametrize(
    "image",
    ["--privileged", "-v", "", " img", "img name", "../etc", "img;rm", "img\n", "/abs/path"],
)
def test_image_names_that_could_be_read_as_anything_else_are_refused(image: str) -> None:
    with pytest.raises(ContainerError, match="not a container image name"):
        checked_image(image)


@pytest.mark.parametrize(
    "image", ["python:3.11-slim", "localhost/ductwork-test:default-1", "ghcr.io/org/img@sha256:abc123"]
)
def test_image_names_pass(image: str) -> None:
    assert checked_image(image) == image


def test_no_engine_names_what_it_tried() -> None:
    with pytest.raises(ContainerError) as refused:
        find_engine(None, which=lambda name: None)
    message = str(refused.value)
    assert "docker is not installed" in message and "podman is not installed" in message
    assert "apt-get install podman" in message


def test_settings_stored_as_lists_are_read_as_text() -> None:
    """A container's arguments or setup script written as a list (by the API, by ClearML)."""
    from ductwork.agent.container import _text

    assert checked(_text(["--env", "A=two words"], " "), SAFE) == ["--env", "A=two words"]
    assert _text(["apt-get update", "echo hi"], "\n") == "apt-get update\necho hi"
    assert _text(None, " ") == "" and _text("--init", " ") == "--init"


def test_an_agent_may_narrow_the_images_tasks_name() -> None:
    default, patterns = (
        "registry.example.com/team/base:1",
        ("registry.example.com/team/*", "python:3.1?-slim"),
    )
    for allowed in ("registry.example.com/team/x:2", "python:3.11-slim", default):
        assert allowed_image(allowed, default, patterns) == allowed
    for refused in ("docker.io/library/python:3.11-slim", "registry.example.com/other/x", "python:3.11"):
        with pytest.raises(ContainerError, match="not allowed on this agent"):
            allowed_image(refused, default, patterns)
    assert allowed_image("anything/at:all", "", ()) == "anything/at:all"  # no patterns: any
