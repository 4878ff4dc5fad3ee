"""deploy/kubernetes: every manifest is valid Kubernetes, and names only what ductwork has.

No cluster runs here, so the manifests are checked offline:

* each object against the Kubernetes JSON schemas that the `kubernetes-validate` package bundles
  (strict: an unknown field is an error); the RayCluster, a KubeRay custom resource those schemas
  lack, by its known fields with each pod template validated as a Kubernetes `PodTemplate`;
* every `ductwork ...` command line a container runs is parsed by ductwork's own click commands
  (an option that is renamed or removed fails here), every `DUCTWORK_*` variable is one the code
  reads, and the settings' values parse as ductwork parses them;
* references hold: Services select pods and name their ports, every ConfigMap and Secret a pod
  reads exists, probes hit a route that answers without a key, image tags match the version and
  the RayCluster's Ray the image's, the NetworkPolicy selects what it means to;
* every `ductwork ...` command docs/deploy.md shows parses the same way;
* the server pod runs for real, each container with the environment the manifests give it: its
  init containers (migrate, the first admin from the secret), the server on an S3-compatible
  store probed on its health route, keys made as the docs say, and a task with an agent pod's
  environment writing its artifact straight to the bucket.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from s3server import S3Server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
KUBERNETES = "1.30"  # the oldest Kubernetes the manifests are meant for
OUR_IMAGES = ("ductwork", "ductwork-ray")  # the names deploy/Containerfile builds (kustomize maps them)

Doc = dict[str, Any]


def documents() -> list[tuple[Path, Doc]]:
    """Every YAML document under deploy/kubernetes, with its file."""
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((path, doc))
    return found


DOCS = documents()
OBJECTS = [(path, doc) for path, doc in DOCS if doc.get("kind") != "Kustomization"]


def ids(items: list[tuple[Path, Doc]]) -> list[str]:
    return [f"{path.relative_to(DEPLOY)}:{doc['kind']}/{doc['metadata']['name']}" for path, doc in items]


def pod_templates(doc: Doc) -> list[Doc]:
    """The pod templates of a workload (RayCluster: the head's and each worker group's)."""
    spec = doc.get("spec", {})
    if doc["kind"] == "RayCluster":
        groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
        return [group["template"] for group in groups]
    return [spec["template"]] if "template" in spec else []


def containers(doc: Doc) -> list[Doc]:
    found = []
    for template in pod_templates(doc):
        pod = template["spec"]
        found += pod.get("initContainers", []) + pod["containers"]
    return found


def everything() -> Iterator[tuple[Doc, Doc]]:
    """(object, container) for every container of every workload."""
    for _, doc in OBJECTS:
        for container in containers(doc):
            yield doc, container


# ------------------------------------------------------------------------------- schemas


KUBERNETES_OBJECTS = [o for o in OBJECTS if o[1]["kind"] != "RayCluster"]


@pytest.mark.parametrize(("path", "doc"), KUBERNETES_OBJECTS, ids=ids(KUBERNETES_OBJECTS))
def test_object_is_valid_kubernetes(path: Path, doc: Doc) -> None:
    import kubernetes_validate  # type: ignore[import-untyped]

    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(part) for part in error.path)
        pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']} at {where}: {error.message}")


# The RayCluster fields these manifests may use (KubeRay's CRD, ray.io/v1); the schemas above
# do not have KubeRay's kinds, so anything else must be checked against the CRD before use.
RAY_SPEC = {"rayVersion", "enableInTreeAutoscaling", "headGroupSpec", "workerGroupSpecs", "suspend"}
RAY_HEAD = {"rayStartParams", "template", "serviceType", "enableIngress"}
RAY_GROUP = {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"}


def test_raycluster_has_kuberay_shape() -> None:
    import kubernetes_validate  # type: ignore[import-untyped]

    clusters = [doc for _, doc in OBJECTS if doc["kind"] == "RayCluster"]
    assert clusters, "deploy/kubernetes/ray/ has no RayCluster"
    for cluster in clusters:
        assert cluster["apiVersion"] == "ray.io/v1"
        spec = cluster["spec"]
        assert set(spec) <= RAY_SPEC, set(spec) - RAY_SPEC
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec["rayVersion"])
        head = spec["headGroupSpec"]
        assert set(head) <= RAY_HEAD and "template" in head, set(head) - RAY_HEAD
        for group in spec["workerGroupSpecs"]:
            assert set(group) <= RAY_GROUP and {"groupName", "template"} <= set(group), group.keys()
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group["groupName"]
        for group in [head, *spec["workerGroupSpecs"]]:
            params = group.get("rayStartParams", {})
            # KubeRay passes them to `ray start --key=value`: strings only
            assert all(isinstance(value, str) for value in params.values()), params
        for template in pod_templates(cluster):
            wrapped = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}}
            kubernetes_validate.validate({**wrapped, "template": template}, KUBERNETES, strict=True)


def test_kustomizations_list_every_manifest() -> None:
    """A manifest left out of its kustomization would never be applied."""
    for path, doc in DOCS:
        if doc.get("kind") != "Kustomization":
            continue
        listed = {path.parent / name for name in doc["resources"]}
        present = {p for p in path.parent.glob("*.yaml") if p.name != "kustomization.yaml"}
        assert listed == present, f"{path}: lists {sorted(listed)} but the folder has {sorted(present)}"


def test_image_tags_are_this_version() -> None:
    import ductwork

    for path, doc in DOCS:
        for image in doc.get("images", []):
            assert image["name"] in OUR_IMAGES, image
            assert image["newTag"] == ductwork.__version__, (
                f"{path}: image {image['name']} is tagged {image['newTag']}, ductwork is "
                f"{ductwork.__version__}: update the tag (and build that image)"
            )
    named = {c["image"] for _, c in everything()}
    assert named <= {*OUR_IMAGES, "postgres:16"}, named


# ------------------------------------------------------------------ real commands and settings


def ductwork_commands(container: Doc) -> list[list[str]]:
    """The `ductwork` command lines a container runs: its args under the image's entrypoint
    (`ductwork`), or each `ductwork ...` inside a `sh -c` script."""
    command = container.get("command")
    if command is None:
        return [list(container.get("args", []))]
    if command == ["ductwork"]:
        return [list(container.get("args", []))]
    assert command[:2] == ["sh", "-c"], f"{container['name']}: unexpected command {command}"
    lexer = shlex.shlex(command[2], posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[list[str]] = []
    current: list[str] | None = None
    for word in lexer:
        if word == "ductwork":
            current = []
            found.append(current)
        elif current is not None and set(word) <= set(";&|()"):
            current = None
        elif current is not None:
            current.append(word)
    assert found, f"{container['name']}: its script runs no ductwork command"
    return found


def parse(argv: list[str]) -> click.Context:
    """Parse `ductwork ARGV` with the real click commands (no command runs)."""
    from ductwork.cli import main

    ctx = main.make_context("ductwork", [], resilient_parsing=True)
    command: click.Command = main
    rest = list(argv)
    while isinstance(command, click.Group):
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"ductwork has no command {name!r} (in {argv})"
        command = sub
        ctx = click.Context(command, info_name=name, parent=ctx)
    return command.make_context(ctx.info_name, rest, parent=ctx.parent)


def test_image_entrypoint_is_ductwork() -> None:
    entrypoints = re.findall(r"^ENTRYPOINT (.+)$", CONTAINERFILE.read_text(), re.M)
    assert [yaml.safe_load(line)[-1] for line in entrypoints] == ["ductwork"]


def test_containers_run_real_ductwork_commands() -> None:
    ran = []
    for doc, container in everything():
        rays_own = doc["kind"] == "RayCluster" and "command" not in container  # KubeRay starts Ray
        if container["image"] not in OUR_IMAGES or rays_own:
            continue
        for argv in ductwork_commands(container):
            try:
                ctx = parse(argv)
            except click.UsageError as error:
                where = f"{doc['metadata']['name']}/{container['name']}"
                pytest.fail(f"{where}: ductwork {shlex.join(argv)}: {error}")
            ran.append(ctx.info_name)
    assert {"upgrade", "add", "server", "agent"} <= {*ran}, ran


def test_ray_agent_queues_and_resources_parse() -> None:
    from ductwork.agent.ray import resources

    head = by_kind("RayCluster")["ductwork-ray"]["spec"]["headGroupSpec"]["template"]["spec"]
    ray, agent = head["containers"]  # KubeRay runs Ray in the first container
    options = parse(agent["args"]).params
    # Its drivers connect to the raylet of their own node: the head's GCS on this pod, and
    # Ray's folder and shared memory shared with the Ray container.
    assert options["ray_address"] == "127.0.0.1:6379"
    assert {"/tmp/ray", "/dev/shm"} <= {m["mountPath"] for m in agent["volumeMounts"]}
    assert agent["volumeMounts"] == ray["volumeMounts"]
    for given in options["queue_resources"]:
        queue, amounts = resources.parse_queue(given)
        assert queue in options["queues"] and amounts, given


def test_image_recipe_matches_the_manifests() -> None:
    """The extras it installs exist; Ray's image is the Ray the RayCluster declares."""
    recipe = CONTAINERFILE.read_text()
    project = (ROOT / "pyproject.toml").read_text()
    section = project.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([\w-]+) = \[", section, re.M))
    assert {"postgres", "s3"} <= extras, extras
    installed = re.findall(r"ductwork-src\[([^\]]+)\]", recipe)
    installed += re.findall(r"^ARG EXTRAS=(.+)$", recipe, re.M)
    for group in installed:
        for extra in set(group.split(",")) - {"${EXTRAS}"}:
            assert extra in extras, f"deploy/Containerfile installs ductwork[{extra}]: no such extra"
    (ray_image,) = re.findall(r"^ARG RAY_IMAGE=rayproject/ray:([0-9.]+)-py", recipe, re.M)
    for cluster in by_kind("RayCluster").values():
        assert cluster["spec"]["rayVersion"] == ray_image


def documented_commands(markdown: str) -> list[list[str]]:
    """`ductwork ...` in the bash blocks of a page: first in a command (after VAR=value
    words) or after `--` (`kubectl exec ... -- ductwork ...`); `<placeholders>` become words."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, re.S):
        text = re.sub(r"<[^>\n]+>", "PLACEHOLDER", block.replace("\\\n", " "))
        for line in text.splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            segment: list[str] = []
            for word in [*lexer, ";"]:
                if set(word) <= set(";&|()<>"):
                    words = [w for w in segment if not re.fullmatch(r"[A-Z_]+=.*", w)] or [""]
                    if words[0] == "ductwork":
                        found.append(words[1:])
                    elif "--" in words and words[words.index("--") + 1 :][:1] == ["ductwork"]:
                        found.append(words[words.index("--") + 2 :])
                    segment = []
                else:
                    segment.append(word)
    return found


def test_deploy_doc_commands_are_real() -> None:
    """Every `ductwork` command docs/deploy.md shows parses with the real commands."""
    commands = documented_commands((ROOT / "docs" / "deploy.md").read_text())
    assert len(commands) > 20, commands
    for argv in commands:
        try:
            parse(argv)
        except click.UsageError as error:
            pytest.fail(f"docs/deploy.md: ductwork {shlex.join(argv)}: {error}")


def code_settings() -> set[str]:
    names: set[str] = set()
    for source in (ROOT / "src" / "ductwork").rglob("*.py"):
        names |= set(re.findall(r"\b(DUCTWORK_[A-Z_]+)\b", source.read_text()))
    return names


def environment() -> dict[str, set[str]]:
    """Each variable a manifest sets (env, ConfigMap and Secret keys), with its values."""
    found: dict[str, set[str]] = {}
    for _, doc in OBJECTS:
        for key, value in {**doc.get("data", {}), **doc.get("stringData", {})}.items():
            found.setdefault(key, set()).add(value)
        for _, container in [(doc, c) for c in containers(doc)]:
            for variable in container.get("env", []):
                found.setdefault(variable["name"], set()).add(variable.get("value", ""))
    return found


def test_ductwork_variables_are_real_settings() -> None:
    known = code_settings()
    used = {name for name in environment() if name.startswith("DUCTWORK_")}
    assert used, "no DUCTWORK_* setting in the manifests?"
    assert used <= known, f"not read anywhere in src/ductwork: {sorted(used - known)}"


def test_setting_values_parse_as_ductwork_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from ductwork.core import settings

    env = environment()
    for value in env["DUCTWORK_CACHE_LIMIT"]:
        monkeypatch.setenv("DUCTWORK_CACHE_LIMIT", value)
        assert settings.cache_limit() != settings.DEFAULT_CACHE_LIMIT, value
    for value in env["DUCTWORK_RETRY_WINDOW"]:
        monkeypatch.setenv("DUCTWORK_RETRY_WINDOW", value)
        assert settings.retry_window() == float(value)
    for value in env["DUCTWORK_TRUSTED_PROXIES"]:
        monkeypatch.setenv("DUCTWORK_TRUSTED_PROXIES", value)
        for proxy in settings.trusted_proxies():
            ipaddress.ip_network(proxy)
    from ductwork.artifacts.allowed import StorageRule

    (root,) = env["DUCTWORK_ARTIFACTS_URI"]
    for value in env["DUCTWORK_ALLOWED_STORAGE"]:
        monkeypatch.setenv("DUCTWORK_ALLOWED_STORAGE", value)
        # what the server builds at start: a malformed prefix would stop it there
        rule = StorageRule.build(root, settings.allowed_storage())
        assert len(rule.prefixes) == 1 + len(settings.allowed_storage()), rule
        rule.check(f"{root}/blobs/ab/abcdef.bin")


# ------------------------------------------------------------------------------- references


def by_kind(kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for _, doc in OBJECTS if doc["kind"] == kind}


def labels_of(template: Doc) -> dict[str, str]:
    return dict(template.get("metadata", {}).get("labels", {}))


def test_services_select_pods_and_name_their_ports() -> None:
    templates = [t for _, doc in OBJECTS for t in pod_templates(doc)]
    for name, service in by_kind("Service").items():
        selector = service["spec"]["selector"]
        matching = [t for t in templates if selector.items() <= labels_of(t).items()]
        assert len(matching) == 1, f"Service {name} selects {len(matching)} pod templates"
        ports = {p["name"] for c in matching[0]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: no container port {port['targetPort']}"
    for rule in by_kind("Ingress")["ductwork-server"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            service = by_kind("Service")[backend["name"]]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_only_the_server_reaches_postgres() -> None:
    policy = by_kind("NetworkPolicy")["ductwork-postgres"]["spec"]
    templates = {
        name: doc["spec"]["template"]["metadata"]["labels"]
        for name, doc in {**by_kind("Deployment"), **by_kind("StatefulSet")}.items()
    }
    guarded = [
        n for n, labels in templates.items() if policy["podSelector"]["matchLabels"].items() <= labels.items()
    ]
    assert guarded == ["ductwork-postgres"], guarded
    (rule,) = policy["ingress"]
    allowed = rule["from"][0]["podSelector"]["matchLabels"].items()
    assert [n for n, labels in templates.items() if allowed <= labels.items()] == ["ductwork-server"]


def test_every_secret_and_config_map_read_exists() -> None:
    secrets, maps = by_kind("Secret"), by_kind("ConfigMap")
    for doc, container in everything():
        where = f"{doc['metadata']['name']}/{container['name']}"
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, where
            else:
                assert source["configMapRef"]["name"] in maps, where
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]]["stringData"], where


def test_secrets_hold_only_placeholders() -> None:
    """No real secret is ever committed here: a copy edited with real values fails this."""
    for name, secret in by_kind("Secret").items():
        assert "data" not in secret, name
        assert set(secret["stringData"].values()) == {"replace-me"}, name


def test_clients_reach_the_server_service_and_probes_need_no_key() -> None:
    from ductwork.server.api.system import router
    from ductwork.server.services.auth import PUBLIC_PATHS

    service = by_kind("Service")["ductwork-server"]
    address = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    urls = environment()["DUCTWORK_API_URL"]
    assert urls == {address}, urls
    routes = {route.path for route in router.routes}  # type: ignore[attr-defined]
    server = by_kind("Deployment")["ductwork-server"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        path = server[probe]["httpGet"]["path"]
        assert path in routes and path in PUBLIC_PATHS, (probe, path)
    args = server["args"]
    assert args[args.index("--port") + 1] == str(server["ports"][0]["containerPort"])


# --------------------------------------------------------------------- the server pod, for real


def pod_env(base: dict[str, str], container: Doc, values: dict[str, str]) -> dict[str, str]:
    """A container's environment as Kubernetes gives it (its envFrom maps and secrets, then its
    env), over `base` (this machine's), with `values` in place of what a cluster would hold
    (addresses, passwords). Every name in `values` must be one the manifests give the container."""
    secrets, maps = by_kind("Secret"), by_kind("ConfigMap")
    given: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            given.update(secrets[source["secretRef"]["name"]]["stringData"])
        else:
            given.update(maps[source["configMapRef"]["name"]]["data"])
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        given[variable["name"]] = secrets[ref["name"]]["stringData"][ref["key"]] if ref else variable["value"]
    unknown = set(values) - set(given) - set(image_env())
    assert not unknown, f"{container['name']} is given no {sorted(unknown)} by the manifests or image"
    env = {k: v for k, v in base.items() if not k.startswith(("DUCTWORK_", "AWS_"))}
    return {**env, "PYTHONPATH": str(ROOT / "src"), **image_env(), **given, **values}


def image_env() -> dict[str, str]:
    """The variables the image sets (deploy/Containerfile's last ENV)."""
    block = re.findall(r"^ENV ((?:.*\\\n)*.*)$", CONTAINERFILE.read_text(), re.M)[-1]
    return dict(re.findall(r"(\w+)=(\S+)", block))


def test_image_home_is_the_pods_home_volume() -> None:
    """$DUCTWORK_HOME (the cache, task folders, venvs) is the volume each pod mounts for it."""
    home = image_env()["DUCTWORK_HOME"]
    for name in ("ductwork-server", "ductwork-agent-services", "ductwork-agent-default"):
        pod = by_kind("Deployment")[name]["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["home"] == home, name


def run_container(container: Doc, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run an init container's command as the image would (entrypoint `ductwork`)."""
    ductwork = [sys.executable, "-m", "ductwork"]
    command = container.get("command")
    if command is None:
        argv = [*ductwork, *container["args"]]
    else:  # sh -c SCRIPT: `ductwork` there is this checkout's
        shim = Path(env["HOME"]) / "bin"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "ductwork").write_text(f'#!/bin/sh\nexec {shlex.join(ductwork)} "$@"\n')
        (shim / "ductwork").chmod(0o755)
        env = {**env, "PATH": f"{shim}:{env['PATH']}"}
        argv = command
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{container['name']}: {done.stdout}\n{done.stderr}"
    return done


def serve(container: Doc, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """The server container's command on a free loopback port; its address once healthy."""
    import httpx

    args = list(container["args"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
    process = subprocess.Popen(
        [sys.executable, "-m", "ductwork", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    address = f"http://127.0.0.1:{port}"
    probe_url = address + container["readinessProbe"]["httpGet"]["path"]
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(probe_url, timeout=2).status_code == 200:
                return process, address
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the server did not start: {process.communicate()[0]}") from None
            time.sleep(0.2)


UPLOAD = """
from ductwork import Task

task = Task.init(project_name="deploy", task_name="on an agent pod")
task.upload_artifact("weights", bytes(range(256)) * 400, wait_on_upload=True)  # a blob, not inline
task.close()
"""


@pytest.mark.slow
def test_server_pod_starts_with_its_admin_and_prints_no_secret(tmp_path: Path, s3_server: S3Server) -> None:
    """The server pod's commands in order, with the environment the manifests give each
    container, on a fresh store (SQLite here: the commands are the same on PostgreSQL, whose
    store the rest of the suite tests) and an S3-compatible store for artifacts; then a task
    running with an agent pod's environment writes its artifact straight to the bucket."""
    import httpx

    bucket = s3_server.bucket()
    machine = {**os.environ, "HOME": str(tmp_path), **s3_server.aws_variables()}
    s3 = {k: machine[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    store = {"DUCTWORK_DB_URL": f"sqlite:///{tmp_path / 'db' / 'ductwork.db'}"}
    pod = by_kind("Deployment")["ductwork-server"]["spec"]["template"]["spec"]
    migrate, admin = pod["initContainers"]
    run_container(migrate, pod_env(machine, migrate, store))
    first_admin = pod_env(machine, admin, {**store, "ADMIN_PASSWORD": "pod-admin-password"})
    run_container(admin, first_admin)
    run_container(admin, first_admin)  # a restarted pod's: the admin is there already

    server = pod["containers"][0]
    storage = {"DUCTWORK_ARTIFACTS_URI": f"{bucket}/ductwork", "DUCTWORK_ALLOWED_STORAGE": f"{bucket}/more/"}
    env = pod_env(machine, server, {**store, **storage, **s3, "DUCTWORK_HOME": str(tmp_path / "home")})
    process, address = serve(server, env)
    try:
        # docs/deploy.md: keys made in the server's container
        admin_key, agent_key = make_keys(env)
        who = httpx.get(f"{address}/api/whoami", headers={"Authorization": f"Bearer {admin_key}"})
        assert who.json() == {"name": "admin", "admin": True, "role": "admin"}
        where = httpx.get(f"{address}/api/storage", headers={"Authorization": f"Bearer {admin_key}"})
        assert where.json()["artifacts_root"] == f"{bucket}/ductwork" and where.json()["remote"]

        agent = by_kind("Deployment")["ductwork-agent-default"]["spec"]["template"]["spec"]["containers"][0]
        server_at = {"DUCTWORK_API_URL": address, "DUCTWORK_API_KEY": agent_key}
        task_env = pod_env(machine, agent, {**server_at, **s3, "DUCTWORK_HOME": str(tmp_path / "agent")})
        done = subprocess.run(
            [sys.executable, "-c", UPLOAD], env=task_env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "cannot reach" not in done.stderr, done.stderr  # written directly, not through the server
        blobs = s3_server.filesystem().find(f"{bucket}/ductwork/blobs")
        assert len(blobs) == 1, blobs
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "First start" not in output and "pod-admin-password" not in output, output


def make_keys(env: dict[str, str]) -> tuple[str, str]:
    """An admin key, and an agent account with its key, as docs/deploy.md makes them."""

    def ductwork(*args: str) -> str:
        argv = [sys.executable, "-m", "ductwork", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout.strip()

    admin_key = ductwork("keys", "create", "--user", "admin", "--name", "laptop")
    ductwork("users", "add", "runner", "--role", "agent")
    return admin_key, ductwork("keys", "create", "--user", "runner", "--name", "k8s-agents")
