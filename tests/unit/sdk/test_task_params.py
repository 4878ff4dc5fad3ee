"""Parameters and configuration: connect() both ways, typed round trips, casting, bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core.errors import ValidationError
from ductwork.sdk import params


@pytest.fixture
def task(sdk_home: Path) -> Task:
    return Task.init("params", "t")


@pytest.fixture
def remote(sdk_home: Path) -> Task:
    """A draft task opened as an agent would (connect reads values back)."""
    draft = Task.create(project_name="params", task_name="remote")
    return Task._from_record(draft.data, remote=True)


def test_connect_dict_round_trips_types(task: Task) -> None:
    values = {"lr": 0.1, "epochs": 3, "layers": [64, 32], "name": "net", "flag": True, "none": None}
    connected = task.connect(values)
    assert connected == values
    typed = task.get_parameters(cast=True)
    assert typed == {f"General/{k}": v for k, v in values.items()}
    assert type(typed["General/epochs"]) is int and type(typed["General/layers"]) is list
    assert task.get_parameters()["General/layers"] == "[64, 32]"
    assert task.get_parameters()["General/none"] == ""


def test_connect_nested_dict_uses_slash_keys_and_comes_back_nested(task: Task) -> None:
    task.connect({"model": {"depth": 4, "act": "relu"}, "seed": 1}, name="Hyper")
    assert task.get_parameters(cast=True) == {
        "Hyper/model/depth": 4,
        "Hyper/model/act": "relu",
        "Hyper/seed": 1,
    }
    assert task.get_parameters_as_dict(cast=True) == {
        "Hyper": {"model": {"depth": 4, "act": "relu"}, "seed": 1}
    }


def test_connected_dict_writes_later_changes(task: Task) -> None:
    original = {"a": 1}
    connected = task.connect(original)
    connected["b"] = [1, 2]
    connected.update(c=3.5)
    assert original == {"a": 1, "b": [1, 2], "c": 3.5}
    assert task.get_parameters(cast=True) == {"General/a": 1, "General/b": [1, 2], "General/c": 3.5}


def test_connect_namespace_goes_to_args(task: Task) -> None:
    namespace = argparse.Namespace(lr=0.5, steps=10, tags=["x"])
    assert task.connect(namespace) is namespace
    assert task.get_parameters(cast=True) == {"Args/lr": 0.5, "Args/steps": 10, "Args/tags": ["x"]}


def test_connect_object_public_attributes(task: Task) -> None:
    class Config:
        def __init__(self) -> None:
            self.width = 3
            self.path = Path("/tmp/data")
            self._hidden = "no"

        def method(self) -> None:
            pass

    config = Config()
    task.connect(config, name="Config")
    stored = task.get_parameters(cast=True)
    assert stored == {"Config/width": 3, "Config/path": "/tmp/data"}
    assert task.data.id == task.id


def test_remote_connect_overrides_with_stored_values_cast_to_local_types(remote: Task) -> None:
    remote.set_parameters(
        {
            "General/epochs": "12",
            "General/lr": "0.01",
            "General/layers": "[1, 2, 3]",
            "General/flag": "false",
            "General/extra": 5,
        }
    )
    values = remote.connect({"epochs": 3, "lr": 0.1, "layers": [8], "flag": True, "missing": "kept"})
    assert values == {
        "epochs": 12,
        "lr": 0.01,
        "layers": [1, 2, 3],
        "flag": False,
        "missing": "kept",
        "extra": 5,
    }
    assert type(values["epochs"]) is int
    # a local key the task did not have is written back
    assert remote.get_parameter("General/missing") == "kept"


def test_remote_connect_object_and_namespace(remote: Task) -> None:
    remote.set_parameters({"Args/steps": "99", "Obj/path": "/elsewhere"})
    namespace = argparse.Namespace(steps=1)
    remote.connect(namespace)
    assert namespace.steps == 99

    class Obj:
        path = Path("/here")

    obj = Obj()
    remote.connect(obj, name="Obj")
    assert obj.path == Path("/elsewhere")


def test_remote_connect_with_an_uncastable_value_names_the_parameter(remote: Task) -> None:
    remote.set_parameters({"General/epochs": "many"})
    with pytest.raises(ValidationError, match="General/epochs"):
        remote.connect({"epochs": 3})


def test_ignore_remote_overrides_keeps_local_values(remote: Task) -> None:
    remote.set_parameters({"General/epochs": 12})
    assert remote.connect({"epochs": 3}, ignore_remote_overrides=True) == {"epochs": 3}
    assert remote.get_parameters(cast=True)["General/epochs"] == 3


@pytest.mark.parametrize("bad", [5, "text", [1, 2], None])
def test_connect_rejects_values_it_cannot_connect(task: Task, bad: object) -> None:
    with pytest.raises(ValidationError, match="mutable must be"):
        task.connect(bad)


def test_connect_rejects_a_bad_section_name(task: Task) -> None:
    with pytest.raises(ValidationError, match="section name"):
        task.connect({"a": 1}, name="a/b")


def test_set_update_get_parameters(task: Task) -> None:
    task.set_parameters({"Args/a": 1, "b": "two"})
    assert task.get_parameters(cast=True) == {"Args/a": 1, "General/b": "two"}
    task.update_parameters({"Args/c": [3]})
    assert task.get_parameters(cast=True) == {"Args/a": 1, "Args/c": [3], "General/b": "two"}
    task.set_parameters({"Args/only": 1.5})
    assert task.get_parameters(cast=True) == {"Args/only": 1.5}
    task.set_parameter("Args/typed", "4", value_type=int)
    assert task.get_parameter("Args/typed", cast=True) == 4
    assert task.get_parameter("Args/typed") == "4"
    assert task.get_parameter("Args/absent", default="d") == "d"
    assert task.delete_parameter("Args/only")
    assert not task.delete_parameter("Args/only")


def test_unstorable_parameter_value_is_stored_as_text_with_its_type(task: Task) -> None:
    task.set_parameter("Args/where", Path("/data/x"))
    param = task._backend.get_parameters(task.id)["Args/where"]
    assert param.value == "/data/x" and param.type == "PosixPath"


def test_user_properties(task: Task) -> None:
    task.set_user_properties({"name": "owner", "value": "ana", "description": "who"}, version="1.2")
    assert task.get_user_properties(value_only=True) == {"version": "1.2", "owner": "ana"}
    assert task.get_user_properties()["owner"]["description"] == "who"
    assert task.delete_user_properties("owner")
    assert task.get_user_properties(value_only=True) == {"version": "1.2"}


def test_configuration_dict_file_and_text(task: Task, tmp_path: Path) -> None:
    config = {"optimizer": {"name": "adam", "betas": [0.9, 0.99]}}
    assert task.connect_configuration(config) is config
    assert task.get_configuration_object_as_dict("General") == config
    yaml_file = tmp_path / "train.yaml"
    yaml_file.write_text("batch: 32\naugment: true\n")
    assert task.connect_configuration(yaml_file, name="Train") == yaml_file
    assert task.get_configuration_object("Train") == "batch: 32\naugment: true\n"
    assert task.get_configuration_object_as_dict("Train") == {"batch": 32, "augment": True}
    task.connect_configuration("free text", name="Notes", description="what")
    assert task.get_configuration_objects() == {
        "General": json.dumps(config, indent=2),
        "Train": "batch: 32\naugment: true\n",
        "Notes": "free text",
    }
    task.set_configuration_object("Extra", config_dict={"k": 1})
    assert task.get_configuration_object_as_dict("Extra") == {"k": 1}
    assert task.get_configuration_object("Missing") is None


def test_configuration_remote_returns_stored_values(remote: Task, tmp_path: Path) -> None:
    remote.set_configuration_object("General", config_text='{"lr": 0.5}')
    remote.set_configuration_object("File", config_text="edited: 1\n")
    local = {"lr": 0.1}
    assert remote.connect_configuration(local) == {"lr": 0.5}
    assert local == {"lr": 0.5}
    path = tmp_path / "c.yaml"
    path.write_text("original: 1\n")
    copy = remote.connect_configuration(path, name="File")
    assert Path(copy).read_text() == "edited: 1\n"
    assert path.read_text() == "original: 1\n"


def test_configuration_bad_input(task: Task, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="configuration 'General' must be"):
        task.connect_configuration(42)
    with pytest.raises(ValidationError, match="does not exist"):
        task.connect_configuration(tmp_path / "absent.yaml")
    with pytest.raises(ValidationError, match="cannot store it as JSON"):
        task.connect_configuration({"f": object()})
    task.set_configuration_object("Broken", config_text="{not: [json")
    with pytest.raises(ValidationError, match="'Broken'"):
        task.get_configuration_object_as_dict("Broken")


@pytest.mark.parametrize(
    ("value", "to", "expected"),
    [
        ("3", "int", 3),
        ("3.0", "int", 3),
        (2.0, "int", 2),
        ("0.5", "float", 0.5),
        ("yes", "bool", True),
        ("False", "bool", False),
        ("[1, 'a']", "list", [1, "a"]),
        ('{"a": 1}', "dict", {"a": 1}),
        ("(1, 2)", "tuple", (1, 2)),
        ("", "NoneType", None),
        (7, "str", "7"),
        ("x", "custom-hint", "x"),
    ],
)
def test_cast(value: object, to: str, expected: object) -> None:
    assert params.cast(value, to) == expected


@pytest.mark.parametrize(("value", "to"), [("3.5", "int"), ("maybe", "bool"), ("[1", "list"), ("{}", "list")])
def test_cast_errors_name_the_parameter(value: object, to: str) -> None:
    with pytest.raises(ValidationError, match="Args/x"):
        params.cast(value, to, name="Args/x")


def test_flatten_and_unflatten_are_inverse() -> None:
    nested = {"a": {"b": {"c": 1}, "d": [1]}, "e": {}}
    flat = params.flatten(nested)
    assert flat == {"a/b/c": 1, "a/d": [1], "e": {}}
    assert params.unflatten(flat) == nested
