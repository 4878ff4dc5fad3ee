"""A real read-only and a real full filesystem under the artifact store (user + mount namespaces).

The unit tests simulate these errors; here the kernel says them. Skipped where `unshare -rm`
is not allowed (some containers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"

PROBE = """
    import json, os, numpy as np
    from ductwork.artifacts import ArtifactStore
    from ductwork.core.errors import StorageError
    root = os.environ["PROBE_ROOT"]
    store = ArtifactStore(root)
    result = {}
    try:
        store.save("task1", "big", np.ones(300_000))
        result["error"] = None
    except StorageError as exc:
        result["error"] = str(exc)
    result["small"] = store.load(store.save("task1", "small", {"inline": True}))
    result["files"] = sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )
    print(json.dumps(result))
"""


def confined(kind: str, folder: Path) -> list[str]:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip("needs `unshare -rm` (user and mount namespaces)")
    if kind == "readonly":
        mount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
    else:
        mount = f"mount -t tmpfs -o size=512k tmpfs {folder}"
    return ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$0" "$@"']


@pytest.mark.parametrize(
    ("kind", "reason"), [("readonly", "read-only file system"), ("full", "no space left")]
)
def test_storage_errors_from_the_kernel(tmp_path: Path, kind: str, reason: str) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    if kind == "readonly":
        (root / "blobs").mkdir()  # exists but cannot be written
    env = {**os.environ, "PYTHONPATH": str(SRC), "PROBE_ROOT": str(root), "DUCTWORK_HOME": str(tmp_path)}
    done = subprocess.run(
        [*confined(kind, root), sys.executable, "-c", textwrap.dedent(PROBE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["error"] is not None and reason in result["error"].lower()
    assert f"artifact storage at {root}" in result["error"]
    assert result["small"] == {"inline": True}  # inline values need no storage at all
    assert result["files"] == []  # nothing half-written left behind
