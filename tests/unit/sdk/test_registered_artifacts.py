"""`Task.register_artifact`: a DataFrame kept stored while it changes, uploaded again only when
its content did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ductwork import Task
from ductwork.core.errors import ValidationError


def stored(task_id: str, name: str) -> Any:
    return Task.get_task(task_id).artifacts[name]


def test_a_registered_frame_is_uploaded_again_on_flush_only_when_it_changed(sdk_home: Path) -> None:
    task = Task.init("registered", "sync")
    frame = pd.DataFrame({"id": [1, 2], "loss": [0.5, 0.4]})
    task.register_artifact("history", frame, metadata={"owner": "me"}, uniqueness_columns=["id"])
    assert task.get_registered_artifacts() == {"history": frame}
    first = task.artifacts["history"]
    pd.testing.assert_frame_equal(first.get(), frame)
    assert first.metadata == {"owner": "me", "uniqueness_columns": ["id"]}

    task.flush(wait_for_uploads=True)  # unchanged: no new upload
    assert stored(task.id, "history").timestamp == first.timestamp

    frame.loc[2] = [3, 0.3]
    task.flush(wait_for_uploads=True)
    pd.testing.assert_frame_equal(stored(task.id, "history").get(), frame)

    frame.loc[1, "loss"] = 0.45  # a changed cell, same shape
    task.mark_completed()
    again = stored(task.id, "history")
    assert again.get()["loss"].tolist() == [0.5, 0.45, 0.3]
    assert again.metadata["uniqueness_columns"] == ["id"]


def test_uniqueness_columns_default_to_all_columns_and_unregister_stops_the_sync(sdk_home: Path) -> None:
    task = Task.init("registered", "unregister")
    frame = pd.DataFrame({"a": [1], "b": ["x"]})
    task.register_artifact("table", frame)
    assert task.artifacts["table"].metadata == {"uniqueness_columns": ["a", "b"]}
    task.unregister_artifact("table")
    task.unregister_artifact("never registered")
    assert task.get_registered_artifacts() == {}
    frame.loc[1] = [2, "y"]
    task.close()
    assert len(stored(task.id, "table").get()) == 1  # the change after unregistering stayed here


def test_a_registered_frame_is_stored_as_it_ended_when_the_script_exits(run_script: Any) -> None:
    done = run_script(
        """
        import pandas as pd
        from ductwork import Task
        task = Task.init("registered", "exit")
        print("task", task.id, flush=True)
        frame = pd.DataFrame({"step": [0], "value": [1.0]})
        task.register_artifact("progress", frame)
        for step in range(1, 4):
            frame.loc[step] = [step, step * 2.0]
        """
    )
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.split("task ", 1)[1].split()[0]
    assert Task.get_task(task_id).status == "completed"
    assert stored(task_id, "progress").get()["value"].tolist() == [1.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rows", [[1, 2]]), r"register_artifact\('rows'\): artifact must be a pandas DataFrame, got list"),
        (
            ("t", pd.DataFrame({"a": [1]}), None, ["b"]),
            r"uniqueness_columns \['b'\] are not columns .*\['a'\]",
        ),
        (("t", pd.DataFrame({"a": [1]}), None, "a"), "uniqueness_columns must be True or a non-empty list"),
        (("t", pd.DataFrame({"a": [1]}), ["meta"]), "metadata must be a dict, got list"),
        ((5, pd.DataFrame({"a": [1]})), "name must be a str, got int"),
    ],
)
def test_bad_registrations_are_refused_by_name(sdk_home: Path, args: tuple[Any, ...], message: str) -> None:
    task = Task.init("registered", "bad")
    with pytest.raises(ValidationError, match=message):
        task.register_artifact(*args)
    assert task.get_registered_artifacts() == {} and task.artifacts == {}
