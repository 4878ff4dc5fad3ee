"""What a process pays to import ductwork, beside a bare interpreter's start (issue 15).

    python bench/bench_imports.py [--quick] [--rounds N] [--before COMMIT]

Each case is a whole process, started from outside and timed wall to wall; the rounds alternate
the cases (floor, `import ductwork`, the public names, a cached rerun) so load on the machine
hits them alike, and each figure is the median. Bytecode caches are written once before timing
(PYTHONDONTWRITEBYTECODE is unset for the children: with it set every process recompiles, about
0.16 s more). The cached rerun is a decorator pipeline fanning out to 32 cached steps in local
mode, primed by one earlier run, so the timed run executes no step body (checked). With
`--before COMMIT`, that commit's tree (git archive, no worktree touched) is measured in the same
rounds, alternating with this one.

The import profile (`python -X importtime`, a run of its own in each round) gives the time spent
importing: the sum of the top-level imports, ductwork's own modules (their self time), and for
the cached rerun the heaviest packages (the self time of all their modules).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench_agent import tree_of  # this script's folder is on sys.path

SRC = str(Path(__file__).resolve().parents[1] / "src")

PIPELINE = """
from ductwork import PipelineDecorator


@PipelineDecorator.component(return_values=["v"], cache=True)
def branch(src, i):
    import os

    with open(os.environ["BENCH_EXEC_LOG"], "a") as log:
        log.write("branch\\n")
    return src + i


@PipelineDecorator.component(return_values=["total"], cache=True)
def reduce_(values):
    import os

    with open(os.environ["BENCH_EXEC_LOG"], "a") as log:
        log.write("reduce\\n")
    return sum(values)


@PipelineDecorator.pipeline(name="bench imports cached", project="bench")
def fan(width=32):
    return int(reduce_([branch(0, i) for i in range(width)]))


PipelineDecorator.run_locally()
assert fan() == 496
"""

FLOOR = "floor: python -c pass"
CACHED = "cached rerun (fan-out 32, local)"
CASES = {
    "import ductwork": ["-c", "import ductwork"],
    "from ductwork import PipelineController, PipelineDecorator, Task": [
        "-c",
        "from ductwork import PipelineController, PipelineDecorator, Task",
    ],
    CACHED: ["pipeline.py"],
}


class Tree:
    """One source tree under test: its own home, pipeline script and figures."""

    def __init__(self, label: str, src: str, work: Path) -> None:
        self.label, self.work = label, work
        work.mkdir(parents=True)
        (work / "pipeline.py").write_text(PIPELINE)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        env["DUCTWORK_HOME"] = str(work / "home")
        env["BENCH_EXEC_LOG"] = str(work / "executed.log")
        self.env = env
        self.walls: dict[str, list[float]] = defaultdict(list)
        self.cpus: dict[str, list[float]] = defaultdict(list)
        self.imports: dict[str, list[float]] = defaultdict(list)
        self.owns: dict[str, list[float]] = defaultdict(list)
        self.packages: dict[str, list[float]] = defaultdict(list)

    def measure(self, case: str, args: list[str]) -> None:
        wall, cpu, _ = run(args, self.env, self.work)
        self.walls[case].append(wall)
        self.cpus[case].append(cpu)
        total, own, packages = profile(run(args, self.env, self.work, importtime=True)[2])
        self.imports[case].append(total)
        self.owns[case].append(own)
        if case == CACHED:
            for package, seconds in packages.items():
                self.packages[package].append(seconds)

    def executed(self) -> int:
        log = self.work / "executed.log"
        return len(log.read_text().splitlines()) if log.exists() else 0


def run(
    args: list[str], env: dict[str, str], cwd: Path, *, importtime: bool = False
) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, the process and what it waited for) and stderr.
    CPU time hardly moves when other work loads the machine; wall time does."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stderr


def profile(stderr: str) -> tuple[float, float, dict[str, float]]:
    """(all imports, ductwork's own self time, self time by top-level package), seconds."""
    total = own = 0.0
    packages: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        module = name.strip()
        if module.startswith("ductwork"):
            own += int(self_us) / 1e6
        packages[module.partition(".")[0]] += int(self_us) / 1e6
        if not name[1:].startswith(" "):  # a top-level import: its cumulative time counts once
            total += int(cumulative_us) / 1e6
    return total, own, packages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--before", default=None, help="a commit to measure alternately with this tree")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    folder = Path(tempfile.mkdtemp(prefix="ductwork-bench-imports-"))
    trees = [Tree("after" if args.before else "", SRC, folder / "after")]
    if args.before:
        trees.insert(0, Tree("before", tree_of(args.before, folder), folder / "before"))
    floor = Tree("", SRC, folder / "floor")
    for tree in trees:  # writes the bytecode caches; the pipeline's run primes its cache
        for case_args in CASES.values():
            run(case_args, tree.env, tree.work)
    primed = [tree.executed() for tree in trees]
    for _ in range(rounds):
        floor.measure(FLOOR, ["-c", "pass"])
        for case, case_args in CASES.items():
            for tree in trees:
                tree.measure(case, case_args)
    for tree, before in zip(trees, primed, strict=True):
        if tree.executed() != before:
            raise SystemExit(
                f"{tree.label}: the cached reruns executed {tree.executed() - before} step bodies"
            )
    report(floor, trees, rounds)


def report(floor: Tree, trees: list[Tree], rounds: int) -> None:
    median = statistics.median
    base, base_cpu = median(floor.walls[FLOOR]), median(floor.cpus[FLOOR])
    print(
        f"Python {sys.version.split()[0]}, {rounds} alternating rounds, medians, "
        "PYTHONDONTWRITEBYTECODE unset"
    )
    print(
        f"{'whole process':<74} {'wall':>8} {'floor':>8} {'ratio':>7}   "
        f"{'cpu':>8} {'floor':>8} {'ratio':>7}   {'imports':>8} {'ductwork self':>13}"
    )
    rows = [(FLOOR, floor)] + [(case, tree) for case in CASES for tree in trees]
    for case, tree in rows:
        wall, cpu = median(tree.walls[case]), median(tree.cpus[case])
        name = f"{case} [{tree.label}]" if tree.label else case
        print(
            f"{name:<74} {wall * 1000:6.1f}ms {base * 1000:6.1f}ms {wall / base:6.2f}x   "
            f"{cpu * 1000:6.1f}ms {base_cpu * 1000:6.1f}ms {cpu / base_cpu:6.2f}x   "
            f"{median(tree.imports[case]) * 1000:6.1f}ms {median(tree.owns[case]) * 1000:11.1f}ms"
        )
    floor_imports = median(floor.imports[FLOOR])
    for tree in trees:
        extra = median(tree.imports[CACHED]) - floor_imports
        label = f" [{tree.label}]" if tree.label else ""
        print(
            f"\ncached rerun{label}: {extra * 1000:.1f} ms importing beyond the floor's; "
            "by package (self time):"
        )
        heaviest = sorted(tree.packages.items(), key=lambda item: -median(item[1]))[:8]
        for package, seconds in heaviest:
            print(f"  {package:<30} {median(seconds) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
