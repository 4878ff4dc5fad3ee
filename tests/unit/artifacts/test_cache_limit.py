"""Issue 10, finding 6: local copies of remote artifacts take at most DUCTWORK_CACHE_LIMIT bytes,
the least recently used going first."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest

from ductwork.artifacts import cache
from ductwork.artifacts.cachefolder import cache_folder
from ductwork.artifacts.store import ArtifactStore
from ductwork.core import settings


def _cached(home: Path) -> int:
    return sum(f.stat().st_size for f in (home / "cache" / "blobs").rglob("*") if f.is_file())


def test_the_download_cache_keeps_to_its_limit_least_recently_used_out(
    ductwork_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUCTWORK_CACHE_LIMIT", "3M")
    assert settings.cache_limit() == 3 << 20
    store = ArtifactStore(f"memory://cache-limit-{uuid.uuid4().hex}")
    arrays = {f"a{i}": np.full(1 << 17, i, dtype=np.float64) for i in range(6)}  # 1 MiB each
    records = {name: store.save("t" * 32, name, value) for name, value in arrays.items()}
    assert _cached(ductwork_home) <= 3 << 20  # the writer's own copies are pruned too

    for record in records.values():
        cache.fetch(record, None, force=True)
        assert _cached(ductwork_home) <= 3 << 20
    # a3, marked as used last, outlives two more downloads that push others out
    a3 = cache.fetch(records["a3"], None)
    os.utime(a3, (1e10, 1e10))  # "used" later than anything else
    for name in ("a0", "a1"):
        cache.fetch(records[name], None)
    assert os.path.exists(a3)
    assert _cached(ductwork_home) <= 3 << 20
    for name, value in arrays.items():  # whatever went is downloaded again, checked
        assert np.array_equal(store.load(records[name]), value)


def test_limit_settings_are_read_with_units(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in (
        ("10G", 10 << 30),
        ("512k", 512 << 10),
        ("1.5m", 3 << 19),
        ("123", 123),
        ("2GB", 2 << 30),
    ):
        monkeypatch.setenv("DUCTWORK_CACHE_LIMIT", raw)
        assert settings.cache_limit() == expected
    monkeypatch.setenv("DUCTWORK_CACHE_LIMIT", "lots")
    assert settings.cache_limit() == settings.DEFAULT_CACHE_LIMIT
    assert cache_folder().endswith(os.path.join("cache", "blobs"))
