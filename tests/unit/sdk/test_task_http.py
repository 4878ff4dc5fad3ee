"""The same SDK calls over the HTTP transport: a live `ductwork server` on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ductwork import InputModel, OutputModel, Task
from ductwork.core.errors import NotFound, StatusError, ValidationError


def test_a_task_over_http(server: Any, tmp_path: Path) -> None:
    task = Task.init("over/http", "train", tags=["remote"])
    assert task.get_project_name() == "over/http"
    values = task.connect({"lr": 0.1, "layers": [4, 2], "nested": {"depth": 3}})
    assert task.get_parameters(cast=True) == {
        "General/lr": 0.1,
        "General/layers": [4, 2],
        "General/nested/depth": 3,
    }
    task.connect_configuration({"opt": "adam"}, name="optimizer")
    values["lr"] = 0.2
    logger = task.get_logger()
    for i in range(500):
        logger.report_scalar("loss", "train", 1 / (i + 1), i)
    logger.report_single_value("best", 0.5)
    print("hello over http")
    task.upload_artifact("array", np.arange(6))
    task.upload_artifact("meta", {"k": "v"})
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    model = OutputModel(task=task, name="http-model")
    model.update_weights(weights)
    task.close()

    stored = Task.get_task(task.id)
    assert stored.status == "completed"
    assert stored.get_parameters(cast=True)["General/lr"] == 0.2
    assert stored.get_configuration_object_as_dict("optimizer") == {"opt": "adam"}
    assert len(stored.get_reported_scalars()["loss"]["train"]["y"]) == 500
    assert stored.get_reported_single_values() == {"best": 0.5}
    assert "hello over http" in stored.get_reported_console_output()
    np.testing.assert_array_equal(stored.artifacts["array"].get(), np.arange(6))
    assert stored.artifacts["meta"].get() == {"k": "v"}
    assert [m.id for m in stored.models["output"]] == [model.id]
    # the server's store saw all of it
    assert server.get_task(task.id).status == "completed"


def test_drafts_clones_queues_and_errors_over_http(server: Any) -> None:
    draft = Task.create(project_name="over/http", task_name="draft", argparse_args=[("epochs", 3)])
    copy = Task.clone(draft, name="copy")
    assert copy.get_parameters(cast=True) == {"Args/epochs": 3}
    server.ensure_queue("default")
    Task.enqueue(copy, queue_name="default")
    assert copy.status == "queued"
    Task.dequeue(copy)
    assert copy.get_status() == "created"
    copy.mark_started()
    copy.mark_stopped()
    with pytest.raises(StatusError, match="stopped -> completed"):
        copy.mark_completed()
    with pytest.raises(NotFound, match="a" * 32):
        Task.get_task("a" * 32)
    with pytest.raises(ValidationError):
        Task.get_task(task_id=7)  # type: ignore[arg-type]
    assert [t.id for t in Task.get_tasks(project_name="over/http", task_name="^copy$")] == [copy.id]
    model = OutputModel(task=copy, name="m")
    InputModel(model.id).connect(draft)
    assert [m.id for m in draft.models["input"]] == [model.id]


def test_under_an_agent_over_http(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    draft = Task.create(project_name="over/http", task_name="agent")
    draft.set_parameters({"General/epochs": "9"})
    monkeypatch.setenv("DUCTWORK_TASK_ID", draft.id)
    task = Task.init()
    assert task.id == draft.id and task.status == "in_progress"
    assert task.connect({"epochs": 1}) == {"epochs": 9}
    task.close()
    assert Task.get_task(draft.id).status == "completed"


def test_artifacts_go_to_the_server_root_it_shares_with_us(server: Any) -> None:
    task = Task.init("over/http", "shared storage")
    task.upload_artifact("array", np.arange(3), wait_on_upload=True)
    assert task.artifacts["array"].record.uri.startswith(str(server.artifacts_root))
    # the user's URL is the server's (ClearML's files-server URL), not a path on its machine
    assert task.artifacts["array"].url == f"{task._backend.url}/api/tasks/{task.id}/artifacts/array/content"
    np.testing.assert_array_equal(task.artifacts["array"].get(), np.arange(3))


def test_artifacts_through_the_server_when_its_storage_is_out_of_reach(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sdk_home: Path
) -> None:
    from ductwork.client.http import HttpBackend

    monkeypatch.setattr(HttpBackend, "sends_artifacts_through_server", lambda self, output_uri=None: True)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("inside")
    task = Task.init("over/http", "through the server")
    task.upload_artifact("array", np.arange(1000))
    task.upload_artifact("folder", folder)
    task.upload_artifact("small", {"inline": True})
    task.get_logger().report_image("img", "s", iteration=0, matrix=np.zeros((4, 4)))
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    model = OutputModel(task=task, name="through")
    model.update_weights(weights)
    task.close()

    artifacts = Task.get_task(task.id).artifacts
    for name in ("array", "folder"):
        assert artifacts[name].record.uri.startswith(str(server.artifacts_root)), name
    np.testing.assert_array_equal(artifacts["array"].get(), np.arange(1000))
    assert (Path(artifacts["folder"].get_local_copy() or "") / "a.txt").read_text() == "inside"
    assert artifacts["small"].get() == {"inline": True}
    assert model.data.uri.startswith(str(server.artifacts_root))
    assert model.url == f"{task._backend.url}/api/models/{model.id}/content"
    # nothing was left in this machine's own artifact storage or staging folder
    assert not (sdk_home / "artifacts").exists() or not any((sdk_home / "artifacts").rglob("*.npy"))
    assert list((sdk_home / "cache" / "staging").iterdir()) == []
