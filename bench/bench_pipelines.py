"""Pipeline overheads in debug and local mode, each beside its floor.

    python bench/bench_pipelines.py [--quick]

Floors: the same work as plain Python calls in one process (debug mode's floor) and as one
`subprocess.run([sys.executable, "-c", ...])` per step (local mode's floor). Figures are medians
of a few runs in this process after a warm-up run; the peers' whole-process figures come from
`../shared/bench-peers` (run with BENCH_PIPELINE_MODULE=ductwork), printed when that folder exists.

Targets (issue 3): debug overhead <= 2 ms a step; local overhead <= 50 ms a step above the
subprocess floor; the cached fan-out < 0.5 s; the 100 MB hand-off <= 2x np.save + np.load.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="ductwork-bench-")
os.environ["DUCTWORK_HOME"] = HOME
os.environ.pop("DUCTWORK_DB_URL", None)

from ductwork import PipelineDecorator  # noqa: E402

QUICK = "--quick" in sys.argv
RUNS = 1 if QUICK else 3
CHAIN, FAN = 20, 32
ARRAY = 12_500_000  # 100 MB of float64


@PipelineDecorator.component(return_values=["y"])
def inc(x):
    return x + 1


@PipelineDecorator.component(return_values=["v"])
def branch(src, i):
    return src + i


@PipelineDecorator.component(return_values=["v"], cache=True)
def cached_branch(src, i):
    return src + i


@PipelineDecorator.component(return_values=["total"])
def reduce_(values):
    return sum(values)


@PipelineDecorator.component(return_values=["arr"])
def make_array(n):
    import numpy as np

    return np.random.default_rng(0).random(n)


@PipelineDecorator.component(return_values=["total"])
def sum_array(arr):
    return float(arr.sum())


@PipelineDecorator.pipeline(name="bench chain", project="bench")
def chain(n: int = CHAIN):
    x = 0
    for _ in range(n):
        x = inc(x)
    return int(x)


@PipelineDecorator.pipeline(name="bench fan", project="bench")
def fan(width: int = FAN):
    return int(reduce_([branch(0, i) for i in range(width)]))


@PipelineDecorator.pipeline(name="bench cached fan", project="bench")
def cached_fan(width: int = FAN):
    return int(reduce_([cached_branch(0, i) for i in range(width)]))


@PipelineDecorator.pipeline(name="bench data", project="bench")
def data(n: int = ARRAY):
    return float(sum_array(make_array(n)))


def median_time(work: Callable[[], object], runs: int = RUNS) -> float:
    work()  # warm-up: imports, the store, the fork server's first start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def subprocess_floor(steps: int, parallel: bool) -> float:
    code = "import sys; print(int(sys.argv[1]) + 1)"
    start = time.perf_counter()
    if parallel:
        procs = [
            subprocess.Popen([sys.executable, "-c", code, str(i)], stdout=subprocess.DEVNULL)
            for i in range(steps)
        ]
        for proc in procs:
            proc.wait()
    else:
        for i in range(steps):
            subprocess.run([sys.executable, "-c", code, str(i)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def numpy_floor() -> float:
    import numpy as np

    folder = tempfile.mkdtemp()
    start = time.perf_counter()
    arr = np.random.default_rng(0).random(ARRAY)
    np.save(os.path.join(folder, "a.npy"), arr)
    total = float(np.load(os.path.join(folder, "a.npy")).sum())
    took = time.perf_counter() - start
    assert total > 0
    return took


def row(name: str, figure: float, floor: float, steps: int, target: str) -> None:
    per_step = (figure - floor) / steps * 1000
    print(
        f"{name:<38} {figure:8.3f} s   floor {floor:8.3f} s   x{figure / floor:7.2f}   "
        f"overhead {per_step:7.2f} ms/step   target {target}"
    )


def main() -> None:
    print(f"ductwork pipelines, {os.cpu_count()} cpus, home {HOME}\n")
    plain_chain = median_time(lambda: [x + 1 for x in range(CHAIN)])
    PipelineDecorator.debug_pipeline()
    row("debug  chain of 20", median_time(lambda: chain(CHAIN)), plain_chain, CHAIN, "<= 2 ms/step")
    row("debug  fan-out 32", median_time(lambda: fan(FAN)), plain_chain, FAN + 1, "<= 2 ms/step")
    wide = 2_000 if QUICK else 10_000
    row(f"debug  fan-out {wide}", median_time(lambda: fan(wide), runs=1), 0.001, wide + 1, "<= 2 ms/step")
    PipelineDecorator.run_locally()
    row(
        "local  chain of 20",
        median_time(lambda: chain(CHAIN)),
        subprocess_floor(CHAIN, False),
        CHAIN,
        "<= 50 ms/step over floor",
    )
    row(
        "local  fan-out 32",
        median_time(lambda: fan(FAN)),
        subprocess_floor(FAN + 1, True),
        FAN + 1,
        "<= 50 ms/step over floor",
    )
    cached_fan(FAN)  # primes the cache
    row("local  fan-out 32, fully cached", median_time(lambda: cached_fan(FAN)), 0.5, FAN + 1, "< 0.5 s")
    floor = numpy_floor()
    PipelineDecorator.debug_pipeline()
    row("debug  100 MB hand-off", median_time(lambda: data(ARRAY), runs=1), floor, 2, "<= 2x np.save+load")
    PipelineDecorator.run_locally()
    row("local  100 MB hand-off", median_time(lambda: data(ARRAY), runs=1), floor, 2, "<= 2x np.save+load")
    peers()


def peers() -> None:
    """Whole-process wall time of the shared ClearML-API workloads, as the peers were measured."""
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "bench-peers"
    if not folder.is_dir():
        return
    print("\nshared ClearML-API workloads on ductwork (whole process, seconds):")
    env = {**os.environ, "BENCH_PIPELINE_MODULE": "ductwork", "DUCTWORK_HOME": tempfile.mkdtemp()}
    for workload in ("w1_chain", "w2_fanout", "w3_data", "w4_cached"):
        for mode in ("decorator-debug", "decorator-local", "controller-local"):
            script = folder / f"clearml_{workload}.py"
            times = []
            for _ in range(RUNS):
                start = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, str(script), mode], cwd=folder, env=env, capture_output=True, text=True
                )
                times.append(time.perf_counter() - start)
            line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), "")
            ok = json.loads(line[6:])["ok"] if line else False
            print(f"  {workload:<10} {mode:<17} {statistics.median(times):7.2f} s   ok={ok}")


if __name__ == "__main__":
    main()
