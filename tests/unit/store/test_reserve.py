"""The room a SQLite store keeps for a task's closing writes on a full disk (store/reserve.py).

The full-disk behaviour itself is in tests/unit/sdk/test_no_silent_loss.py (a scalar flood on a
small tmpfs ends `failed` with its losses on the task)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ductwork.store import Store, reserve


def test_a_sqlite_store_keeps_a_reserve_and_gives_it_up_once(tmp_path: Path) -> None:
    database = tmp_path / "ductwork.db"
    store = Store(f"sqlite:///{database}")
    kept = reserve.path_of(database)
    assert kept.stat().st_size == reserve.SIZE
    assert kept.stat().st_blocks * 512 >= reserve.SIZE  # really taken, not a sparse file

    assert store.release_reserve() is True
    assert not kept.exists()
    assert store.release_reserve() is False  # already given up
    Store(f"sqlite:///{database}")  # the next process to open the store makes it again
    assert kept.stat().st_size == reserve.SIZE


def test_an_in_memory_store_has_none() -> None:
    assert Store("sqlite://").release_reserve() is False


def test_a_home_without_room_simply_has_no_reserve_and_no_staging_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "ductwork.db"

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    reserve.keep(database)
    assert list(tmp_path.iterdir()) == []
