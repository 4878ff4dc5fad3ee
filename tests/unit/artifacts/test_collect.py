from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ductwork.artifacts import ArtifactStore
from ductwork.artifacts.collect import collect_garbage


def age(path: str, seconds: float = 7200) -> None:
    old = os.stat(path).st_mtime - seconds
    os.utime(path, (old, old))


def test_unreferenced_old_blobs_go(store: ArtifactStore) -> None:
    kept, dropped, young = (store.save("t", n, np.full(10, i)) for i, n in enumerate("abc"))
    age(kept.uri)
    age(dropped.uri)

    dry = collect_garbage(store.root, {kept.hash}, dry_run=True)
    assert (dry.removed, dry.freed, dry.kept) == (1, dropped.size, 2)
    assert os.path.exists(dropped.uri)

    done = collect_garbage(store.root, [kept.hash])
    assert done == dry
    assert not os.path.exists(dropped.uri)
    assert os.path.exists(kept.uri) and os.path.exists(young.uri)
    np.testing.assert_array_equal(store.load(kept), np.full(10, 0))


def test_saving_existing_content_protects_its_blob(store: ArtifactStore) -> None:
    first = store.save("t", "a", np.arange(50))
    age(first.uri)
    again = store.save("t2", "b", np.arange(50))  # same bytes: no new file, a fresh time
    assert again.uri == first.uri
    assert collect_garbage(store.root, set()).removed == 0


def test_nothing_to_collect(tmp_path: Path) -> None:
    assert collect_garbage(str(tmp_path / "none"), []).removed == 0
