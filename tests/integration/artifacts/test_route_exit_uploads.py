"""Uploads still running when a script's main thread ends reach object storage: the background
uploads are drained before the standard library's thread pools close (`sdk/shutdown.py`),
which the S3 client needs. A script whose last line uploads loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]

UPLOAD_AS_LAST_LINE = """
import sys

import numpy as np

from ductwork import StorageManager, Task

bucket, local_file = sys.argv[1], sys.argv[2]
task = Task.init("exit", "upload", output_uri=bucket + "/artifacts")
print(task.id)
StorageManager.upload_file(local_file, bucket + "/files/data.txt", wait_for_upload=False)
task.upload_artifact("values", np.arange(1000))
"""

READ_BACK = """
import sys

from ductwork import StorageManager, Task

bucket, task_id = sys.argv[1], sys.argv[2]
print(int(Task.get_task(task_id).artifacts["values"].get().sum()))
print(open(StorageManager.get_local_copy(bucket + "/files/data.txt")).read())
"""


def _run(code: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_an_upload_as_a_scripts_last_line_reaches_object_storage(s3_server: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in s3_server.env().items() if not k.startswith("DUCTWORK_")}
    env["DUCTWORK_HOME"] = str(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    bucket = s3_server.bucket()
    data = tmp_path / "data.txt"
    data.write_text("sent in the background")

    task_id = _run(UPLOAD_AS_LAST_LINE, env, bucket, str(data)).strip()

    assert _run(READ_BACK, env, bucket, task_id).splitlines() == [
        str(sum(range(1000))),
        "sent in the background",
    ]
