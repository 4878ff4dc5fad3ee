"""Artifact store speed, each figure beside its floor (plain Python doing the same work).

    python bench/bench_artifacts.py [--dir PATH] [--mb 100] [--repeat 5]

1. 100 small values (ints, short dicts, tuples): save + load through the store (inline, no
   file) vs `json.dumps` + `json.loads` of the same values.
2. 100 small arrays (8 KB each): save + load through the store (content-addressed files)
   vs `np.save` + `np.load` of the same arrays to files in the same folder.
3. One large array (default 100 MB): save + load vs `np.save` + `np.load` on the same disk.
   Both sides read every byte back (a sum), so the store's memory-mapped load is not
   credited for work it defers. Target: ratio <= 1.5.

Times are the best of `--repeat` runs; every run writes new content (no dedupe shortcut).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ductwork.artifacts import ArtifactStore


def best_of(repeat: int, run: Callable[[int], None]) -> float:
    times = []
    for attempt in range(repeat):
        start = time.perf_counter()
        run(attempt)
        times.append(time.perf_counter() - start)
    return min(times)


def report(label: str, figure: float, floor: float, target: float | None = None) -> None:
    ratio = figure / floor
    verdict = "" if target is None else ("  ok" if ratio <= target else f"  MISSED target {target}x")
    print(f"{label:<44} {figure * 1e3:9.2f} ms   floor {floor * 1e3:9.2f} ms   ratio {ratio:5.2f}x{verdict}")


def small_values(store: ArtifactStore, repeat: int) -> None:
    def values(seed: int) -> list[object]:
        return [[seed, i, {"loss": i / 7, "tags": ("a", "b")}][i % 3] for i in range(100)]

    def ours(seed: int) -> None:
        for i, value in enumerate(values(seed)):
            store.load(store.save("bench", f"v{i}", value))

    def floor(seed: int) -> None:
        for value in values(seed):
            json.loads(json.dumps(value))

    report("100 small values, save + load (inline)", best_of(repeat, ours), best_of(repeat, floor))


def small_arrays(store: ArtifactStore, folder: Path, repeat: int) -> None:
    rng = np.random.default_rng(1)
    batches = [[rng.random(1000) for _ in range(100)] for _ in range(repeat)]
    plain = folder / "plain-small"
    plain.mkdir()

    def ours(attempt: int) -> None:
        for i, array in enumerate(batches[attempt]):
            store.load(store.save("bench", f"a{i}", array))

    def floor(attempt: int) -> None:
        for i, array in enumerate(batches[attempt]):
            path = plain / f"{attempt}-{i}.npy"
            np.save(path, array)
            np.load(path)

    report("100 small arrays (8 KB), save + load", best_of(repeat, ours), best_of(repeat, floor))


def large_array(store: ArtifactStore, folder: Path, megabytes: int, repeat: int) -> None:
    count = megabytes * (1 << 20) // 8
    arrays = [np.random.default_rng(seed).random(count) for seed in range(2)]
    plain = folder / "plain-large.npy"
    timings: dict[str, list[float]] = {"save": [], "load": [], "lazy": [], "np.save": [], "np.load": []}

    for attempt in range(repeat):
        array = arrays[attempt % 2]
        array[0] = attempt  # new content every run: no dedupe shortcut

        start = time.perf_counter()
        record = store.save("bench", "big", array)
        timings["save"].append(time.perf_counter() - start)
        start = time.perf_counter()
        back = store.load(record)
        timings["lazy"].append(time.perf_counter() - start)
        float(back.sum())
        timings["load"].append(time.perf_counter() - start)
        del back

        start = time.perf_counter()
        np.save(plain, array)
        timings["np.save"].append(time.perf_counter() - start)
        start = time.perf_counter()
        float(np.load(plain).sum())
        timings["np.load"].append(time.perf_counter() - start)

    best = {key: min(values) for key, values in timings.items()}
    label = f"{megabytes} MB array"
    report(f"{label}: save", best["save"], best["np.save"])
    report(f"{label}: load + read every byte", best["load"], best["np.load"])
    ours, floor = best["save"] + best["load"], best["np.save"] + best["np.load"]
    report(f"{label}: save + load", ours, floor, target=1.5)
    print(f"{'':<44} (load returns a memory map in {best['lazy'] * 1e3:.2f} ms before reading)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default=None, help="folder on the disk to measure (default: temp folder)")
    parser.add_argument("--mb", type=int, default=100, help="size of the large array in MB")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ductwork-bench-", dir=args.dir))
    os.environ["DUCTWORK_HOME"] = str(folder / "home")
    try:
        store = ArtifactStore(str(folder / "artifacts"))
        print(f"artifact store at {store.root}")
        small_values(store, args.repeat)
        small_arrays(store, folder, args.repeat)
        large_array(store, folder, args.mb, args.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
