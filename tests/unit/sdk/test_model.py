"""OutputModel / InputModel / Model: weights stored, linked to tasks, found again."""

from __future__ import annotations

from pathlib import Path

import pytest

from ductwork import InputModel, Model, OutputModel, Task
from ductwork.core.errors import NotFound, StorageError, ValidationError


@pytest.fixture
def task(sdk_home: Path) -> Task:
    return Task.init("models", "train")


def test_output_model_file_weights(task: Task, tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights" * 100)
    model = OutputModel(
        task=task,
        name="net",
        framework="PyTorch",
        config_dict={"depth": 3},
        tags=["v1"],
        label_enumeration={"cat": 0, "dog": 1},
    )
    url = model.update_weights(str(weights))
    assert url == model.url and url
    assert weights.exists()  # never deleted
    assert model.name == "net" and model.framework == "PyTorch"
    assert model.config_dict == {"depth": 3} and model.labels == {"cat": 0, "dog": 1}
    assert model.task == task.id
    local = model.get_local_copy()
    assert local is not None and Path(local).read_bytes() == b"weights" * 100
    assert [m.id for m in task.models["output"]] == [model.id]
    assert task.models["input"] == []


def test_output_model_folder_is_zipped_and_extracted(task: Task, tmp_path: Path) -> None:
    folder = tmp_path / "saved_model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "v.data").write_bytes(b"vars")
    model = OutputModel(task=task, name="folder-model")
    assert model.update_weights(folder).endswith(".zip")
    extracted = Path(model.get_local_copy() or "")
    assert (extracted / "saved_model.pb").read_bytes() == b"graph"
    assert (extracted / "variables" / "v.data").read_bytes() == b"vars"


def test_output_model_uses_the_current_task_and_register_uri(task: Task) -> None:
    model = OutputModel(name="registered")
    assert model.update_weights(register_uri="s3://bucket/model.bin") == "s3://bucket/model.bin"
    assert Model(model.id).url == "s3://bucket/model.bin"
    assert task.models["output"][0].name == "registered"


def test_input_model_by_id_and_by_name_connects_to_a_task(task: Task, tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"1")
    produced = OutputModel(task=task, name="shared", tags=["prod"])
    produced.update_weights(weights)
    task.close()
    consumer = Task.init("models", "consume")
    by_id = InputModel(model_id=produced.id)
    by_name = InputModel(name="shared", project="models", tags=["prod"])
    assert by_id.id == by_name.id == produced.id
    by_id.connect(consumer)
    assert [m.id for m in consumer.models["input"]] == [produced.id]
    assert Path(consumer.models["input"][0].get_local_copy() or "").read_bytes() == b"1"
    with pytest.raises(NotFound, match="published model"):
        InputModel(name="shared", only_published=True)
    produced.publish()
    assert InputModel(name="shared", only_published=True).id == produced.id


def test_task_connect_accepts_models(task: Task) -> None:
    model = OutputModel(task=task, name="m")
    other = Task.create(project_name="models", task_name="other")
    other.connect(InputModel(model.id))
    assert [m.id for m in other.models["input"]] == [model.id]


def test_query_models(task: Task) -> None:
    OutputModel(task=task, name="a", tags=["x"])
    OutputModel(task=task, name="b", tags=["x", "y"])
    assert {m.name for m in Model.query_models(project_name="models", tags=["x"])} == {"a", "b"}
    assert [m.name for m in Model.query_models(model_name="b")] == ["b"]
    assert Model.query_models(project_name="nowhere") == []
    assert len(Model.query_models(project_name="models", max_results=1)) == 1


def test_bad_input(task: Task, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="f" * 32):
        Model("f" * 32)
    with pytest.raises(ValidationError, match="model_id"):
        Model(5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="give model_id"):
        InputModel()
    with pytest.raises(ValidationError, match="label_enumeration"):
        OutputModel(task=task, label_enumeration={"a": "zero"})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="tags"):
        OutputModel(task=task, tags="one")
    model = OutputModel(task=task, name="empty")
    with pytest.raises(ValidationError, match="does not exist"):
        model.update_weights(tmp_path / "absent.pt")
    with pytest.raises(ValidationError, match="weights_filename or register_uri"):
        model.update_weights()
    assert model.get_local_copy() is None
    with pytest.raises(StorageError, match="no weights"):
        model.get_local_copy(raise_on_error=True)


def test_output_model_without_a_task(sdk_home: Path) -> None:
    with pytest.raises(ValidationError, match="no current task"):
        OutputModel(name="orphan")
