"""Pipeline overheads in debug and local mode, each figure beside its floor and the ratio.

    python bench/bench_pipelines.py [--quick] [--in-process | --whole]

In this process (after a warm-up run, medians): debug and local runs against the same work as
plain Python calls (debug mode's floor) and as one `subprocess.run([sys.executable, "-c", ...])`
per step (local mode's floor); the debug per-step overhead is a 10,000-step fan-out against the
same 10,000 plain calls.

Whole processes (`--whole`; by default when ../shared/bench-peers or $BENCH_PEERS_DIR exists): the shared
ClearML-API scripts run as a user runs them (BENCH_PIPELINE_MODULE=ductwork, bytecode caches
warm: PYTHONDONTWRITEBYTECODE unset, the scripts copied out of the read-only folder), each
alternated with its plain-Python floor in every round, median of 3 rounds; wall time and CPU time
(user + system of the process, steadier on a loaded machine). W4 is primed once and checked to
execute no step body in the timed runs.

Targets (issue 15): debug overhead <= 0.3 ms a step; W1 chain debug <= 8x its floor; W4 cached
rerun <= 5x; W1 local <= 2.6x, W2 local <= 2.8x, W3 local <= 1.6x (one process per step).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
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
    return median_times(work, runs)[0]


def median_times(work: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    """Median wall and CPU seconds (this process, every thread) of `work`, after a warm-up."""
    work()  # warm-up: imports, the store, the fork server's first start
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def debug_row(
    name: str, work: Callable[[], object], floor: Callable[[], object], steps: int, runs: int
) -> None:
    """A debug-mode figure beside the same calls made plain: wall time, and CPU time per step
    (steadier on a loaded machine: waiting for a core is not overhead)."""
    (f_wall, f_cpu), (wall, cpu) = median_times(floor), median_times(work, runs)
    row(name, wall, f_wall, steps, "<= 0.3 ms/step")
    per_step = (cpu - f_cpu) / steps * 1000
    print(f"{'':<38} cpu {cpu:8.3f} s   floor {f_cpu:8.3f} s   overhead {per_step:7.3f} ms/step")


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
        f"overhead {per_step:7.3f} ms/step   target {target}"
    )


def plain_fan(width: int) -> int:
    """The floor of a fan-out: the same calls, plain."""
    return sum(src_plus(0, i) for i in range(width))


def src_plus(src: int, i: int) -> int:
    return src + i


def in_process() -> None:
    print(f"ductwork pipelines, {os.cpu_count()} cpus, home {HOME}\n")
    PipelineDecorator.debug_pipeline()
    debug_row("debug  chain of 20", lambda: chain(CHAIN), lambda: [x + 1 for x in range(CHAIN)], CHAIN, RUNS)
    debug_row("debug  fan-out 32", lambda: fan(FAN), lambda: plain_fan(FAN), FAN + 1, RUNS)
    wide = 2_000 if QUICK else 10_000
    debug_row(f"debug  fan-out {wide}", lambda: fan(wide), lambda: plain_fan(wide), wide + 1, 1)
    PipelineDecorator.run_locally()
    row(
        "local  chain of 20",
        median_time(lambda: chain(CHAIN)),
        subprocess_floor(CHAIN, False),
        CHAIN,
        "<= 10 ms/step over floor",
    )
    row(
        "local  fan-out 32",
        median_time(lambda: fan(FAN)),
        subprocess_floor(FAN + 1, True),
        FAN + 1,
        "<= 10 ms/step over floor",
    )
    cached_fan(FAN)  # primes the cache
    row("local  fan-out 32, fully cached", median_time(lambda: cached_fan(FAN)), 0.5, FAN + 1, "< 0.5 s")
    floor = numpy_floor()
    PipelineDecorator.debug_pipeline()
    row("debug  hand-off of 100 MB", median_time(lambda: data(ARRAY), runs=1), floor, 2, "<= 2x np.save+load")
    PipelineDecorator.run_locally()
    row("local  hand-off of 100 MB", median_time(lambda: data(ARRAY), runs=1), floor, 2, "<= 2x np.save+load")


# (label, script, mode, floor script, floor mode, target ratio)
WHOLE = [
    (
        "W1 chain of 20, debug",
        "clearml_w1_chain.py",
        "decorator-debug",
        "baseline_w1_chain.py",
        "inproc",
        8.0,
    ),
    (
        "W4 fan-out 32 cached rerun, debug",
        "clearml_w4_cached.py",
        "decorator-debug",
        "baseline_w4_cached.py",
        "inproc",
        5.0,
    ),
    (
        "W4 fan-out 32 cached rerun, local",
        "clearml_w4_cached.py",
        "decorator-local",
        "baseline_w4_cached.py",
        "inproc",
        5.0,
    ),
    (
        "W1 chain of 20, local",
        "clearml_w1_chain.py",
        "decorator-local",
        "baseline_w1_chain.py",
        "subprocess",
        2.6,
    ),
    (
        "W2 fan-out 1-32-1, local",
        "clearml_w2_fanout.py",
        "decorator-local",
        "baseline_w2_fanout.py",
        "subprocess",
        2.8,
    ),
    (
        "W3 100 MB hand-off, local",
        "clearml_w3_data.py",
        "decorator-local",
        "baseline_w3_data.py",
        "subprocess",
        1.6,
    ),
]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one whole process; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), "")
    if done.returncode != 0 or not line or not json.loads(line[6:])["ok"]:
        raise SystemExit(f"{' '.join(command[1:])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def whole_process() -> None:
    """The shared ClearML-API workloads as a user runs them, each beside its plain-Python floor."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "bench-peers"
    shared = Path(os.environ.get("BENCH_PEERS_DIR") or default)
    if not shared.is_dir():
        print(f"\n(no {shared}: whole-process figures skipped)")
        return
    folder = Path(tempfile.mkdtemp(prefix="ductwork-bench-peers-")) / "bench-peers"
    shutil.copytree(shared, folder, ignore=shutil.ignore_patterns("__pycache__"))  # writable: .pyc
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DUCTWORK_DB_URL")}
    env.update(
        BENCH_PIPELINE_MODULE="ductwork",
        DUCTWORK_HOME=tempfile.mkdtemp(prefix="ductwork-bench-home-"),
        BENCH_CACHE_DIR=tempfile.mkdtemp(prefix="ductwork-bench-floor-cache-"),
        BENCH_EXEC_LOG=str(folder / "executed.log"),
    )
    rows = WHOLE[:3] if QUICK else WHOLE
    commands = {
        label: ([sys.executable, script, mode], [sys.executable, fl, fmode])
        for label, script, mode, fl, fmode, _ in rows
    }
    for ours, floor in commands.values():  # writes the bytecode, primes the caches (W4)
        timed(floor, folder, env)
        timed(ours, folder, env)
    log = Path(env["BENCH_EXEC_LOG"])
    primed = log.read_text().count("\n") if log.exists() else 0
    results: dict[str, list[tuple[float, float, float, float]]] = {label: [] for label in commands}
    for _ in range(RUNS):  # alternating: each figure beside its floor in the same round
        for label, (ours, floor) in commands.items():
            results[label].append((*timed(floor, folder, env), *timed(ours, folder, env)))
    executed = (log.read_text().count("\n") if log.exists() else 0) - primed
    print(f"\nwhole process, shared ClearML-API scripts on ductwork, median of {RUNS} alternating rounds:")
    for label, *_, target in rows:
        f_wall, f_cpu, wall, cpu = (statistics.median(r[i] for r in results[label]) for i in range(4))
        print(
            f"  {label:<36} {wall:6.3f} s   floor {f_wall:6.3f} s   x{wall / f_wall:5.1f}   "
            f"cpu {cpu:6.3f} s   floor {f_cpu:6.3f} s   x{cpu / f_cpu:5.1f}   target <= {target:g}x"
        )
    print(f"  step bodies executed by the timed W4 reruns (must be 0): {executed}")


def main() -> None:
    if "--whole" not in sys.argv:
        in_process()
    if "--in-process" not in sys.argv:
        whole_process()


if __name__ == "__main__":
    main()
