"""Parameters and configuration objects: typed round trips, replace, bad input."""

from __future__ import annotations

import pytest

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConfigObject, Param, TaskRecord
from ductwork.store import Store


def test_values_keep_their_python_types(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    values = {
        "Args/int": Param(3, "int"),
        "Args/float": Param(0.5, "float"),
        "Args/big": Param(2**62),
        "Args/bool": Param(True, "bool"),
        "Args/none": Param(None, "NoneType"),
        "Args/str": Param("3", "str"),
        "Args/list": Param([1, "a", [2.5, None]], "list"),
        "General/dict": Param({"a": {"b": [1, 2]}, "c": False}, "dict", "a nested dict"),
        "General/path/with/slashes": Param("x"),
        "plain": Param(7),
    }
    store.set_parameters(task.id, values)
    got = store.get_parameters(task.id)
    assert got == values
    for key, param in values.items():
        assert type(got[key].value) is type(param.value), key


def test_update_merges_and_replace_drops(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    store.set_parameters(task.id, {"A/x": Param(1), "A/y": Param(2)})
    store.set_parameters(task.id, {"A/y": Param(20), "B/z": Param(3)})
    assert {k: p.value for k, p in store.get_parameters(task.id).items()} == {"A/x": 1, "A/y": 20, "B/z": 3}
    store.set_parameters(task.id, {"C/only": Param("c")}, replace=True)
    assert list(store.get_parameters(task.id)) == ["C/only"]
    store.set_parameters(task.id, {}, replace=True)
    assert store.get_parameters(task.id) == {}


def test_bad_parameters_name_the_key(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    with pytest.raises(ValidationError, match=r"'Args/obj'.*object"):
        store.set_parameters(task.id, {"Args/obj": Param(object())})
    with pytest.raises(ValidationError, match="Section/name"):
        store.set_parameters(task.id, {"Args/": Param(1)})
    with pytest.raises(ValidationError, match="must be a Param"):
        store.set_parameters(task.id, {"Args/x": 1})  # type: ignore[dict-item]
    # nothing half-written
    assert store.get_parameters(task.id) == {}


def test_configurations(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    store.set_configuration(task.id, "General", ConfigObject("a: 1", "yaml", "desc"))
    store.set_configuration(task.id, "Pipeline", ConfigObject('{"steps": []}', "json"))
    store.set_configuration(task.id, "General", ConfigObject("a: 2", "yaml"))
    got = store.get_configurations(task.id)
    assert got == {"General": ConfigObject("a: 2", "yaml"), "Pipeline": ConfigObject('{"steps": []}', "json")}
    with pytest.raises(ValidationError, match="configuration name"):
        store.set_configuration(task.id, "", ConfigObject("x"))
    with pytest.raises(ValidationError, match="ConfigObject"):
        store.set_configuration(task.id, "x", {"text": "x"})  # type: ignore[arg-type]
