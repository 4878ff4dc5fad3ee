"""`ductwork artifacts gc`: a deleted task's bytes are freed, every byte still named is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

MAKE = """
import numpy as np
from ductwork import OutputModel, Task

gone = Task.create(project_name="gc", task_name="gone")
gone.upload_artifact("own", np.arange(1000), wait_on_upload=True)
gone.upload_artifact("shared", np.ones(1000), wait_on_upload=True)
kept = Task.create(project_name="gc", task_name="kept")
kept.upload_artifact("shared", np.ones(1000), wait_on_upload=True)
kept.get_logger().report_image("sample", "s", iteration=0, image=np.zeros((4, 4, 3), dtype=np.uint8))
with open("weights.bin", "wb") as f:
    f.write(b"weights" * 100)
OutputModel(task=gone, name="weights").update_weights(weights_filename="weights.bin")
for task in (gone, kept):
    task.flush(wait_for_uploads=True)
gone.delete()
print(kept.id)
"""


def run(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env.update(DUCTWORK_HOME=str(home), PYTHONPATH=str(SRC), **extra)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, cwd=home.parent
    )


def blobs(home: Path) -> dict[str, Path]:
    """Stored blobs by extension (each kind is made once here)."""
    return {path.suffix: path for path in (home / "artifacts" / "blobs").rglob("*.*")}


def age(paths: list[Path], seconds: float = 7200) -> None:
    for path in paths:
        old = path.stat().st_mtime - seconds
        os.utime(path, (old, old))


def gc(home: Path, *args: str) -> dict[str, object]:
    done = run(home, "-m", "ductwork", "artifacts", "gc", "--json", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    [swept] = json.loads(done.stdout)
    assert isinstance(swept, dict)
    return swept


def test_gc_frees_only_what_nothing_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = run(home, "-c", MAKE)
    assert made.returncode == 0, made.stderr
    kept_id = made.stdout.split()[-1]
    stored = blobs(home)
    assert set(stored) == {".npy", ".png", ".bin"}  # "shared" is one blob for both tasks
    npy = sorted((home / "artifacts" / "blobs").rglob("*.npy"))
    assert len(npy) == 2

    fresh = gc(home)  # everything is younger than the grace period: nothing goes
    assert (fresh["removed"], fresh["kept"]) == (0, 4)

    age([*npy, stored[".png"], stored[".bin"]])
    dry = gc(home, "--dry-run")
    assert (dry["removed"], dry["kept"], dry["dry_run"]) == (1, 3, True)
    assert all(path.exists() for path in npy)

    done = gc(home)
    assert (done["removed"], done["freed"], done["kept"]) == (1, dry["freed"], 3)
    left = sorted((home / "artifacts" / "blobs").rglob("*.npy"))
    assert len(left) == 1 and stored[".png"].exists() and stored[".bin"].exists()
    # the survivor is the shared array, and the task that kept it still reads it
    read = run(
        home,
        "-c",
        f"from ductwork import Task; print(Task.get_task('{kept_id}').artifacts['shared'].get().sum())",
    )
    assert read.stdout.strip() == "1000.0", read.stderr
    assert gc(home)["removed"] == 0


def test_gc_refuses_to_run_through_a_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run(home, "-m", "ductwork", "artifacts", "gc", DUCTWORK_API_URL="http://127.0.0.1:9")
    assert done.returncode == 1
    assert "unset DUCTWORK_API_URL" in done.stderr + done.stdout
    assert not (home / "ductwork.db").exists()
