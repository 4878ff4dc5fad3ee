"""Issue 10, findings 0, 1 and 2: what the SDK accepts is stored, or the caller and the task learn
that it was not. Scripts run as real subprocesses; full and read-only filesystems are real
mounts in a private mount namespace (`unshare -rm`)."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core.errors import StorageError, ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent, TaskRecord
from ductwork.sdk import channels, losses

SRC = Path(__file__).resolve().parents[3] / "src"


def _script(
    home: Path, code: str, *, prefix: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DUCTWORK_HOME": str(home), "PYTHONPATH": str(SRC), **env}
    for name in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL", "DUCTWORK_TASK_ID", "DUCTWORK_PIPE"):
        full_env.pop(name, None)
    return subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


def _only_task(home: Path) -> sqlite3.Row:
    db = sqlite3.connect(home / "ductwork.db")
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT id, status, status_message, status_reason, runtime FROM tasks").fetchall()
    finally:
        db.close()
    assert len(rows) == 1
    row: sqlite3.Row = rows[0]
    return row


# ---- finding 0: an upload as a script's last line, without close() ---------------------------

LAST_LINE_UPLOAD = """
    import sys
    import numpy as np
    from ductwork import Task
    task = Task.init("exit", "last line")
    kind, size = sys.argv[1], int(sys.argv[2])
    make = {"bytes": lambda: b"x" * size, "dict": lambda: {"a": 1}, "numpy": lambda: np.ones(size // 8)}
    obj = make[kind]()
    print("TASK", task.id)
    task.upload_artifact("last", obj)
"""


@pytest.mark.parametrize(
    ("kind", "size"),
    [("dict", 0), ("bytes", 5), ("numpy", 2 << 20), ("bytes", 64 << 20), ("numpy", 300 << 20)],
    ids=["dict", "5B", "numpy-2MB", "bytes-64MB", "numpy-300MB"],
)
def test_an_upload_as_the_last_line_is_stored_before_exit(tmp_path: Path, kind: str, size: int) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LAST_LINE_UPLOAD), kind, str(size)],
        capture_output=True,
        text=True,
        env={**os.environ, "DUCTWORK_HOME": str(home), "PYTHONPATH": str(SRC)},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "upload failed" not in done.stderr and "could not be stored" not in done.stderr, done.stderr
    task = _only_task(home)
    assert task["status"] == "completed", task["status_reason"]
    db = sqlite3.connect(home / "ductwork.db")
    try:
        stored = db.execute("SELECT name, size FROM artifacts WHERE task_id = ?", (task["id"],)).fetchall()
    finally:
        db.close()
    assert [name for name, _ in stored] == ["last"]
    if kind != "dict":
        assert stored[0][1] >= size  # the whole object (numpy adds its header)


# ---- finding 1: values are checked at the call -------------------------------------------------


def test_values_a_backend_cannot_hold_are_refused_at_the_call(sdk_home: Path) -> None:
    task = Task.init("values", "refused")
    logger = task.get_logger()
    with pytest.raises(ValueError, match="iteration 18446744073709551616 is outside the 64-bit range"):
        logger.report_scalar("loss", "train", 1.0, 2**64)
    with pytest.raises(ValueError, match="outside the 64-bit range"):
        logger.report_scalar("loss", "train", 1.0, -(2**63) - 1)
    with pytest.raises(ValueError, match="NUL"):
        logger.report_scalar("lo\x00ss", "train", 1.0, 0)
    with pytest.raises(ValueError, match="NUL"):
        logger.report_single_value("acc\x00", 1.0)
    with pytest.raises(ValueError, match="too large for a 64-bit float"):
        logger.report_scalar("loss", "train", 10**400, 0)
    with pytest.raises(ValidationError, match="must be a str, got int"):
        task.connect({1: "one"})
    with pytest.raises(ValidationError, match="NUL"):
        task.set_parameter("General/a\x00b", 1)
    looped: dict[str, object] = {"a": 1}
    looped["me"] = looped
    with pytest.raises(ValidationError, match="'me' contains itself"):
        task.connect(looped)
    listed: list[object] = []
    listed.append(listed)
    with pytest.raises(ValidationError, match="contains itself"):
        task.set_parameter("General/listed", listed)
    task.close()
    assert Task.get_task(task.id).status == "completed"  # refusals at the call lose nothing


def test_nan_inf_huge_ints_and_typed_keys_come_back_as_they_were(sdk_home: Path) -> None:
    task = Task.init("values", "kept")
    logger = task.get_logger()
    for i, value in enumerate([math.nan, math.inf, -math.inf, 0.5]):
        logger.report_scalar("odd", "values", value, i)
    logger.report_scalar("odd", "values", 1.0, 2**63 - 1)
    logger.report_single_value("nan", math.nan)
    task.connect({"keys": [{1: "one", (2, 3): "pair"}], "big": 2**70}, name="Typed")
    with pytest.raises(ValidationError, match="NUL"):  # synchronous: the store's refusal is the call's
        task.set_parameter("Typed/text", "a\x00b")
    print("a\x00b")
    task.close()
    again = Task.get_task(task.id)
    series = again.get_reported_scalars()["odd"]["values"]
    assert series["x"] == [0, 1, 2, 3, 2**63 - 1]
    assert math.isnan(series["y"][0]) and series["y"][1:] == [math.inf, -math.inf, 0.5, 1.0]
    assert math.isnan(again.get_reported_single_values()["nan"])
    values = again.get_parameters(cast=True)
    assert values["Typed/keys"] == [{1: "one", (2, 3): "pair"}]
    assert values["Typed/big"] == 2**70
    assert "a\u2400b" in again.get_reported_console_output()  # a printed NUL shows where it was
    assert again.status == "completed"


def test_nan_and_inf_round_trip_in_the_store(store) -> None:  # type: ignore[no-untyped-def]
    project = store.ensure_project("nan")
    task = store.create_task(TaskRecord(name="nan", project=project.id))
    values = [math.nan, math.inf, -math.inf, -0.0, 1e308]
    store.add_events([MetricEvent(task.id, "scalar", "t", "s", i, v) for i, v in enumerate(values)])
    store.add_events([MetricEvent(task.id, "single", "Summary", "nan", 0, math.nan)])
    back = [e.value for e in store.get_events(EventQuery(task_id=task.id, kind="scalar"))]
    assert math.isnan(back[0]) and back[1:] == values[1:]
    (single,) = store.get_events(EventQuery(task_id=task.id, kind="single"))
    assert single.value is not None and math.isnan(single.value) and single.payload is None


def test_one_bad_item_costs_only_itself(store, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A record the SDK's checks missed (here put straight into the writer) is refused by the
    store; the batch is split until only it is set aside, and the task learns of it."""
    monkeypatch.setenv("DUCTWORK_RETRY_WINDOW", "1")
    project = store.ensure_project("batch")
    task = store.create_task(TaskRecord(name="batch", project=project.id, status="in_progress"))
    writers = channels.Channels(store)
    rows = [(task.id, "scalar", "t", "s", i, float(i), None, 0.0) for i in range(1000)]
    rows[517] = (task.id, "scalar", "t", "s", 2**64, 1.0, None, 0.0)
    writers.events.put_many(rows)  # type: ignore[arg-type]
    lines = [ConsoleLine(task.id, f"line {i}", "stdout") for i in range(300)]
    lines[42] = ConsoleLine(task.id, "\ud800 lone surrogate", "stdout")
    writers.console.put_many(lines)
    with pytest.raises(StorageError, match="could not write 1 metric"):
        writers.flush()
    stored = store.get_events(EventQuery(task_id=task.id, kind="scalar"))
    assert len(stored) == 999 and 2**64 not in {e.iteration for e in stored}
    assert [(loss.kind, loss.count) for loss in losses.of(task.id)] == [("scalar point", 1)]
    console = store.get_console(task.id)
    assert len(console) == 300 and console[42].text == "\\ud800 lone surrogate"
    losses.raised(task.id)


# ---- finding 2: a full disk ---------------------------------------------------------------------


def _confined(home: Path, size: str) -> tuple[str, ...]:
    """Run in a private mount namespace where `home` is a fresh tmpfs of `size`, the store
    first created (migrated) in it, so what the script then writes fills it."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip("needs `unshare -rm` (user and mount namespaces) to make a full filesystem")
    home.mkdir(parents=True, exist_ok=True)
    prepare = f"{sys.executable} -c 'from ductwork import client; client.backend()'"
    return (
        "unshare",
        "-rm",
        "sh",
        "-c",
        f'mount -t tmpfs -o size={size} tmpfs {home} && {prepare} && "$0" "$@"',
    )


# Registered after `import ductwork` (whose exit-status handler ends the process) and before
# Task.init, so it runs after the task is closed at exit (atexit is last in, first out); the
# tmpfs is gone with its namespace, so the script itself shows what the store holds.
SHOW_AT_EXIT = """
    import atexit, json, os, sqlite3
    from ductwork import Task  # imports the writers, and with them the exit-status handler
    def show():
        db = sqlite3.connect(os.path.join(os.environ["DUCTWORK_HOME"], "ductwork.db"))
        print("ROW", json.dumps(db.execute("SELECT status, status_message, runtime FROM tasks").fetchone()))
        print("EVENTS", db.execute("SELECT coalesce(sum(length(times)), 0) / 8 FROM chunks").fetchone()[0])
        print("ARTIFACTS", db.execute("SELECT count(*) FROM artifacts").fetchone()[0], flush=True)
    atexit.register(show)
"""

FLOOD = """
    from ductwork import Task
    task = Task.init("disk", "flood")
    logger = task.get_logger()
    for i in range(400_000):
        logger.report_scalar("loss", "train", i * 0.5, i)
    print("REPORTED", task.id)
"""


def _shown(done: subprocess.CompletedProcess[str]) -> tuple[str, str, dict[str, dict[str, object]], int, int]:
    shown = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    status, message, runtime = json.loads(shown["ROW"])
    return status, message, json.loads(runtime), int(shown["EVENTS"]), int(shown["ARTIFACTS"])


def test_a_scalar_flood_on_a_full_disk_is_on_the_task_and_the_exit_status(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # The tmpfs holds the store, not 400,000 points.
    code = textwrap.dedent(SHOW_AT_EXIT) + textwrap.dedent(FLOOD)
    done = _script(home, code, prefix=_confined(home, "4m"), DUCTWORK_RETRY_WINDOW="1")
    assert done.returncode == losses.EXIT_STATUS, done.stderr
    assert "REPORTED" in done.stdout
    assert "scalar point(s) could not be stored" in done.stderr and "disk is full" in done.stderr
    status, message, runtime, stored, _ = _shown(done)
    lost = runtime["lost"]["scalar point"]
    assert isinstance(lost, int) and lost > 0
    assert stored + lost == 400_000  # every point is stored or counted lost
    assert (status, message) == ("failed", f"lost {lost} scalar point(s)")
    assert "disk is full" in str(runtime["lost_causes"]["scalar point"])


UPLOAD_ON_FULL_DISK = """
    import numpy as np
    from ductwork import Task
    task = Task.init("disk", "upload")
    task.upload_artifact("big", np.ones(2_000_000))
"""


def test_an_artifact_upload_on_a_full_disk_is_on_the_task_and_the_exit_status(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = textwrap.dedent(SHOW_AT_EXIT) + textwrap.dedent(UPLOAD_ON_FULL_DISK)
    done = _script(home, code, prefix=_confined(home, "4m"), DUCTWORK_RETRY_WINDOW="1")
    assert done.returncode == losses.EXIT_STATUS, done.stderr
    assert "no space left on device" in done.stderr
    status, message, runtime, _, artifacts = _shown(done)
    assert (status, message, artifacts) == ("failed", "lost 1 artifact(s)", 0)
    assert "no space left on device" in str(runtime["lost_causes"]["artifact"])
