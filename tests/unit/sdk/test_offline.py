"""Offline mode: a script runs with no backend reachable, its session is imported later."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ductwork import Model, Task
from ductwork.core.errors import StatusError, ValidationError
from ductwork.core.queries import EventQuery
from ductwork.sdk import offline, offline_import

SRC = Path(__file__).resolve().parents[3] / "src"

SCRIPT = """
import sys
from pathlib import Path
from ductwork import OutputModel, Task

Task.set_offline(True)
assert Task.is_offline()
task = Task.init("offline", "trip")
task.connect({"lr": 0.5, "epochs": 3})
print("hello offline")
for step in range(3):
    task.get_logger().report_scalar("loss", "train", 1.0 / (step + 1), step)
task.upload_artifact("table", {"rows": [1, 2, 3]})
weights = Path(sys.argv[1]) / "weights.bin"
weights.write_bytes(b"w" * 5000)
OutputModel(task=task, name="net").update_weights(str(weights))
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2, 3])
plt.savefig(str(Path(sys.argv[1]) / "figure.png"))  # captured: an image event with its file
print("folder", task.get_offline_mode_folder())
if sys.argv[2] == "crash":
    task.flush(wait_for_uploads=True)
    import os
    os._exit(3)
task.close()
"""


def run_offline(home: Path, work: Path, ending: str = "close") -> subprocess.CompletedProcess[str]:
    script = work / "trip.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env.update({"DUCTWORK_HOME": str(home), "PYTHONPATH": str(SRC)})
    return subprocess.run(
        [sys.executable, str(script), str(work), ending], capture_output=True, text=True, env=env, timeout=120
    )


def session_of(done: subprocess.CompletedProcess[str]) -> Path:
    line = next(line for line in done.stdout.splitlines() if line.startswith("folder "))
    return Path(line.split(" ", 1)[1])


def test_a_session_recorded_offline_arrives_whole_in_another_home(sdk_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "laptop"
    done = run_offline(home, tmp_path)
    assert done.returncode == 0, done.stderr
    folder = session_of(done)
    assert folder.parent == home / "cache" / "offline"
    assert f"offline session stored in {folder}.zip" in done.stdout
    assert not (home / "ductwork.db").exists()  # no store was touched on the laptop
    assert not (home / "artifacts").exists()

    task = Task.get_task(Task.import_offline_session(str(folder) + ".zip"))
    assert (task.name, task.status, task.get_project_name()) == ("trip", "completed", "offline")
    assert task.get_parameters(cast=True) == {"General/lr": 0.5, "General/epochs": 3}
    events = task._backend.get_events(EventQuery(task_id=task.id, kind="scalar"))
    assert sorted((e.iteration, e.value) for e in events if e.title == "loss") == [
        (0, 1.0),
        (1, 0.5),
        (2, 1 / 3),
    ]
    console = [line.text for line in task._backend.get_console(task.id)]
    assert any("hello offline" in text for text in console)
    assert task.artifacts["table"].get() == {"rows": [1, 2, 3]}
    (model,) = task.models["output"]
    assert model.name == "net"
    assert Path(Model(model.id).get_local_copy()).read_bytes() == b"w" * 5000
    (image,) = task._backend.get_events(EventQuery(task_id=task.id, kind="image"))
    stored = Path(image.payload["artifact"]["uri"].removeprefix("file://"))
    assert stored.is_file() and str(folder) not in str(stored)
    assert stored.read_bytes().startswith(b"\x89PNG")


def test_a_session_imported_into_a_server(server: Any, tmp_path: Path) -> None:
    done = run_offline(tmp_path / "laptop", tmp_path)
    assert done.returncode == 0, done.stderr
    task = Task.get_task(Task.import_offline_session(str(session_of(done))))
    assert task.status == "completed"
    assert task.get_parameters(cast=True) == {"General/lr": 0.5, "General/epochs": 3}
    assert task.artifacts["table"].get() == {"rows": [1, 2, 3]}
    (model,) = task.models["output"]
    assert Path(Model(model.id).get_local_copy()).read_bytes() == b"w" * 5000
    (image,) = task._backend.get_events(EventQuery(task_id=task.id, kind="image"))
    assert image.payload["artifact"]["uri"].startswith(str(server.artifacts_root))


def test_a_crashed_session_keeps_what_was_written_and_continues_a_task(
    sdk_home: Path, tmp_path: Path
) -> None:
    done = run_offline(tmp_path / "laptop", tmp_path, ending="crash")
    assert done.returncode == 3
    folder = session_of(done)
    with (folder / offline.JOURNAL).open("ab") as journal:
        journal.write(b'{"op":"add_events","args":[[{"__rec')  # torn by the crash
    earlier = Task.create(project_name="offline", task_name="earlier", module="json.tool")
    found = Task.import_offline_session(str(folder), previous_task_id=earlier.id, iteration_offset=10)
    assert found == earlier.id
    task = Task.get_task(found)
    assert task.status == "stopped"  # its process never ended it
    events = task._backend.get_events(EventQuery(task_id=task.id, kind="scalar"))
    assert sorted(e.iteration for e in events if e.title == "loss") == [10, 11, 12]
    assert task.artifacts["table"].get() == {"rows": [1, 2, 3]}


def hostile(tmp_path: Path, name: str, data: bytes = b"x", *, link: bool = False) -> Path:
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(offline.JOURNAL, b'{"format":1,"task":"t","folder":"/s"}\n')
        info = zipfile.ZipInfo(name)
        if link:
            info.external_attr = 0o120777 << 16
        zipped.writestr(info, data)
    return archive


@pytest.mark.parametrize(
    ("name", "link", "why"),
    [
        ("../../escape.txt", False, "leads out"),
        ("/etc/evil", False, "leads out"),
        ("data/..\\..\\x", False, "leads out"),
        ("C:/x", False, "leads out"),
        ("data/link", True, "is a link"),
    ],
)
def test_a_hostile_zip_is_refused_and_writes_nothing(
    sdk_home: Path, tmp_path: Path, name: str, link: bool, why: str
) -> None:
    with pytest.raises(ValidationError, match=why):
        Task.import_offline_session(str(hostile(tmp_path, name, link=link)))
    assert not (tmp_path.parent / "escape.txt").exists()
    assert Task.get_tasks() == []


def test_sizes_are_counted_as_extracted(
    sdk_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline_import, "MAX_BYTES", 1_000_000)
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(offline.JOURNAL, b'{"format":1,"task":"t","folder":"/s"}\n')
        zipped.writestr("data/zeros", b"\0" * 5_000_000)  # 5 MB of zeros, a few KB zipped
    assert archive.stat().st_size < 100_000
    with pytest.raises(ValidationError, match="larger than 1000000 bytes"):
        Task.import_offline_session(str(archive))
    assert Task.get_tasks() == []


def test_a_partial_zip_or_journal_is_refused_and_writes_nothing(sdk_home: Path, tmp_path: Path) -> None:
    done = run_offline(tmp_path / "laptop", tmp_path)
    archive = Path(str(session_of(done)) + ".zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValidationError, match="not a readable zip"):
        Task.import_offline_session(str(cut))
    folder = session_of(done)
    lines = (folder / offline.JOURNAL).read_bytes().split(b"\n")
    (folder / offline.JOURNAL).write_bytes(b"\n".join([*lines[:3], b"{broken", *lines[3:]]))
    with pytest.raises(ValidationError, match="journal line 4 is damaged"):
        Task.import_offline_session(str(folder))
    for blob in (folder / offline.DATA).rglob("*"):
        if blob.is_file():
            blob.unlink()
    (folder / offline.JOURNAL).write_bytes(b"\n".join(lines))
    with pytest.raises(ValidationError, match="missing from the session"):
        Task.import_offline_session(str(folder))
    assert Task.get_tasks() == []


def test_going_back_online_with_the_task_open_is_refused(sdk_home: Path) -> None:
    Task.set_offline(True)
    try:
        task = Task.init("offline", "open")
        with pytest.raises(ValidationError, match="import_offline_session: offline mode is on"):
            Task.import_offline_session("anything")
        with pytest.raises(StatusError, match="still open"):
            Task.set_offline(False)
        with pytest.raises(ValidationError, match="is not available in offline mode"):
            Task.create(project_name="offline", module="json.tool")
        with pytest.raises(ValidationError, match="offline_mode must be a bool"):
            Task.set_offline("no")  # type: ignore[arg-type]
        task.close()
    finally:
        Task.set_offline(False)
    assert not Task.is_offline()
    assert Task.get_tasks() == []  # the offline task never reached this home's store
