"""Local mode (a process per step), whole processes, beside plain Python's floors (issue 15).

    python bench/bench_local.py [--quick] [--rounds N] [--before COMMIT|SRC_DIR] [--src SRC_DIR]
                                [--peers DIR] [--modes decorator-local,controller-local] [--only w1,w3]

The workloads are the shared ClearML-API scripts (`../shared/bench-peers`, run with
`BENCH_PIPELINE_MODULE=ductwork`), copied outside any git work tree and run as a user runs
them: each a whole process timed from outside, bytecode caches warm (PYTHONDONTWRITEBYTECODE
unset, every script run once before timing), every tree with its own `DUCTWORK_HOME`. Each round
runs each case once, floor first, so load on the machine hits them alike; figures are medians.

* W1 chain of 20, W2 fan-out 1 -> 32 -> 1, W3 a 100 MB numpy array from one step to the next,
  each beside its floor: `baseline_*.py subprocess` (one `python -c` per step; W3 through an
  `.npy` file).
* Per-step cost: W1 at 20 steps and at 1 step; (t20 - t1) / 19 is what one more step costs,
  the floor's is one interpreter start, and their difference what local mode adds to it
  (goal: at most 10 ms).

CPU time (user + system of the process and all it waited for) is printed beside wall time: on
a loaded machine it moves far less. `--before COMMIT` measures that commit's tree (git archive),
or a `src` folder (e.g. this tree less a change), in the same rounds, alternating with this one
(`--src`: another tree instead of this checkout's). On a machine shared with other work the floors
move too (a `python -c` start is then several times its 15 ms): read the ratio beside its own
floor of the same run, never against an older run's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench_agent import tree_of  # this script's folder is on sys.path

SRC = str(Path(__file__).resolve().parents[1] / "src")
# $BENCH_PEERS_DIR first: before_after.py runs a copy of this script from a temporary folder
PEERS = Path(
    os.environ.get("BENCH_PEERS_DIR") or Path(__file__).resolve().parents[2] / "shared" / "bench-peers"
)
GOALS = {"w1": 2.6, "w2": 2.8, "w3": 1.6}
PER_STEP_GOAL_MS = 10.0
WORKLOADS = {
    "w1": ("W1 chain of 20", "clearml_w1_chain.py", "baseline_w1_chain.py", {}),
    "w1 one step": (
        "W1 chain of 1",
        "clearml_w1_chain.py",
        "baseline_w1_chain.py",
        {"BENCH_CHAIN_STEPS": "1"},
    ),
    "w2": ("W2 fan-out 1 -> 32 -> 1", "clearml_w2_fanout.py", "baseline_w2_fanout.py", {}),
    "w3": ("W3 100 MB numpy hand-off", "clearml_w3_data.py", "baseline_w3_data.py", {}),
}


class Case:
    """One command (a script and its mode) in one tree, with its figures."""

    def __init__(self, script: str, mode: str, env: dict[str, str], extra: dict[str, str]) -> None:
        self.args = [script, mode]
        self.env = {**env, **extra}
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def measure(self, cwd: Path) -> None:
        wall, cpu = run(self.args, self.env, cwd)
        self.walls.append(wall)
        self.cpus.append(cpu)

    def wall(self) -> float:
        return statistics.median(self.walls)

    def cpu(self) -> float:
        return statistics.median(self.cpus)


def environment(src: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUCTWORK_", "BENCH_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env["DUCTWORK_HOME"] = str(home)
    env["BENCH_PIPELINE_MODULE"] = "ductwork"
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and what it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or '"ok": true' not in done.stdout:
        raise SystemExit(f"{args} failed ({done.returncode}):\n{done.stdout[-1000:]}{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def build(trees: dict[str, str], modes: list[str], folder: Path) -> dict[tuple[str, str, str], Case]:
    """Every case: (workload, tree label or "floor", mode) -> Case."""
    cases: dict[tuple[str, str, str], Case] = {}
    floor_env = environment(SRC, folder / "floor-home")
    for key, (_, script, baseline, extra) in WORKLOADS.items():
        cases[(key, "floor", "subprocess")] = Case(baseline, "subprocess", floor_env, extra)
        for label, src in trees.items():
            env = environment(src, folder / f"home-{label or 'this'}")
            for mode in modes:
                cases[(key, label, mode)] = Case(script, mode, env, extra)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 round instead of 3")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--before", default=None, help="a commit or src folder to measure alternately")
    parser.add_argument("--peers", default=str(PEERS), help="the bench-peers folder")
    parser.add_argument("--modes", default="decorator-local,controller-local")
    parser.add_argument("--only", default="", help="comma-separated workloads: w1,w2,w3")
    parser.add_argument("--src", default=SRC, help="the src folder measured (default: this checkout's)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    folder = Path(tempfile.mkdtemp(prefix="ductwork-bench-local-"))
    work = folder / "peers"  # outside any git work tree, as the peers' README asks
    shutil.copytree(args.peers, work, ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    trees = {"after" if args.before else "": args.src}
    if args.before and os.path.isdir(args.before):  # a src folder, e.g. this tree less a change
        trees = {"before": os.path.abspath(args.before), **trees}
    elif args.before:
        (folder / "before").mkdir()
        trees = {"before": tree_of(args.before, folder / "before"), **trees}
    if args.only:
        keep = set(args.only.split(","))
        for key in [k for k in WORKLOADS if k.split()[0] not in keep]:
            del WORKLOADS[key]
    cases = build(trees, args.modes.split(","), folder)
    for case in cases.values():  # bytecode caches written, homes created
        run(case.args, case.env, work)
    for _ in range(rounds):
        for case in cases.values():
            case.measure(work)
    report(cases, trees, args.modes.split(","), rounds)
    shutil.rmtree(folder, ignore_errors=True)


def report(
    cases: dict[tuple[str, str, str], Case], trees: dict[str, str], modes: list[str], rounds: int
) -> None:
    print(
        f"Python {sys.version.split()[0]}, {rounds} alternating rounds, medians, whole processes, "
        "PYTHONDONTWRITEBYTECODE unset; floor: baseline_*.py subprocess"
    )
    print(
        f"{'workload':<52} {'wall':>7} {'floor':>7} {'ratio':>6} {'goal':>6}   "
        f"{'cpu':>7} {'floor':>7} {'ratio':>6}"
    )
    for key, (title, *_rest) in WORKLOADS.items():
        floor = cases[(key, "floor", "subprocess")]
        for label in trees:
            for mode in modes:
                case = cases[(key, label, mode)]
                name = f"{title}, {mode}" + (f" [{label}]" if label else "")
                goal = f"{GOALS[key]:.1f}x" if key in GOALS else ""
                print(
                    f"{name:<52} {case.wall():6.3f}s {floor.wall():6.3f}s {case.wall() / floor.wall():5.2f}x "
                    f"{goal:>6}   {case.cpu():6.3f}s {floor.cpu():6.3f}s {case.cpu() / floor.cpu():5.2f}x"
                )
    if ("w1 one step", "floor", "subprocess") not in cases:
        return
    print(
        "\nper step (W1: (t20 - t1) / 19): local mode's cost on top of an interpreter start, "
        f"goal <= {PER_STEP_GOAL_MS:.0f} ms"
    )
    slope: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (key, label, mode), case in cases.items():
        if key in ("w1", "w1 one step"):
            sign = 1 if key == "w1" else -1
            slope[(label, mode)][0] += sign * case.wall() / 19 * 1000
            slope[(label, mode)][1] += sign * case.cpu() / 19 * 1000
    floor, floor_cpu = slope[("floor", "subprocess")]
    for label in trees:
        for mode in modes:
            wall, cpu = slope[(label, mode)]
            name = f"{mode}" + (f" [{label}]" if label else "")
            print(
                f"  {name:<36} wall {wall:6.1f} ms a step, floor {floor:5.1f} ms: {wall - floor:+6.1f} ms"
                f"   cpu {cpu:6.1f} ms, floor {floor_cpu:5.1f} ms: {cpu - floor_cpu:+6.1f} ms"
            )


if __name__ == "__main__":
    main()
