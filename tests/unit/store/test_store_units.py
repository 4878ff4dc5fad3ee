"""Store pieces that need no database: keys, secrets, schema coverage, import weight."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ductwork.core import records
from ductwork.core.errors import ValidationError
from ductwork.store import accounts, chunks, params, tables
from ductwork.store.projects import check_name

SRC = str(Path(__file__).resolve().parents[3] / "src")


def test_parameter_keys() -> None:
    assert params.split_key("Args/lr") == ("Args", "lr")
    assert params.split_key("General/a/b") == ("General", "a/b")
    assert params.split_key("plain") == ("", "plain")
    assert params.join_key("Args", "lr") == "Args/lr" and params.join_key("", "plain") == "plain"
    for bad in ("", "/x", "x/", 5):
        with pytest.raises(ValidationError):
            params.split_key(bad)  # type: ignore[arg-type]


def test_project_names() -> None:
    assert check_name(" a / b ") == "a/b"
    for bad in ("", " ", "a//b", "a/", None):
        with pytest.raises(ValidationError, match="project name"):
            check_name(bad)  # type: ignore[arg-type]


def test_secret_hashes() -> None:
    stored = accounts.hash_secret("hunter2")
    assert stored.startswith("scrypt$") and "hunter2" not in stored
    assert accounts.hash_secret("hunter2") != stored  # salted
    assert accounts.check_secret("hunter2", stored)
    assert not accounts.check_secret("hunter3", stored)
    assert not accounts.check_secret("hunter2", "garbage")
    assert not accounts.check_secret("hunter2", "md5$1$1$1$00$00")


@pytest.mark.parametrize(
    ("record", "table", "extra"),
    [
        (records.TaskRecord, tables.tasks, {"cache_key"}),
        (records.ArtifactRecord, tables.artifacts, set()),
        (records.ModelRecord, tables.models, set()),
        (records.NodeState, tables.nodes, {"id", "updated"}),
        (records.Worker, tables.workers, set()),
        (records.Project, tables.projects, set()),
        # an event is a point packed in a chunk under its row of series (store/chunks.py)
        (
            records.MetricEvent,
            SimpleNamespace(
                columns=[
                    *tables.series.c,
                    *(SimpleNamespace(name=f) for f, c in chunks.FIELDS.items() if c in tables.chunks.c),
                ]
            ),
            {"id"},
        ),
        (records.ConsoleLine, tables.console, set()),
    ],
)
def test_every_record_field_has_a_column(record: type, table: object, extra: set[str]) -> None:
    # A field added to a record without a column (and a migration) would be lost silently.
    fields = {f.name for f in dataclasses.fields(record)}
    columns = {c.name for c in table.columns}  # type: ignore[attr-defined]
    assert fields <= columns, f"{table}: no column for {sorted(fields - columns)}"
    assert columns - fields <= extra


def test_importing_the_store_package_is_light() -> None:
    code = "import sys, ductwork.store; print('sqlalchemy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_store_implements_every_backend_method_with_its_signature() -> None:
    import inspect

    from ductwork.client.contract import Backend
    from ductwork.store import Store

    wanted = {name for name, value in vars(Backend).items() if callable(value) and not name.startswith("_")}
    assert wanted, "the contract lists no methods?"
    for name in sorted(wanted):
        ours = getattr(Store, name, None)
        assert ours is not None, f"Store lacks {name}"
        theirs = inspect.signature(getattr(Backend, name))
        mine = inspect.signature(ours)
        assert list(mine.parameters) == list(theirs.parameters), name
        for param, expected in theirs.parameters.items():
            got = mine.parameters[param]
            assert (got.kind, got.default) == (expected.kind, expected.default), f"{name}({param})"
