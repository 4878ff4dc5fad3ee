"""What a process pays to import ductwork, beside a bare interpreter's start (issue 15).

    python bench/bench_imports.py [--quick] [--rounds N]

Each case is a whole process, started from outside and timed wall to wall; the rounds alternate
the cases (floor, `import ductwork`, the public names, a cached rerun) so load on the machine
hits them alike, and each figure is the median. Bytecode caches are written once before timing
(PYTHONDONTWRITEBYTECODE is unset for the children: with it set every process recompiles, about
0.16 s more). The cached rerun is a decorator pipeline fanning out to 32 cached steps in local
mode, primed by one earlier run, so the timed run executes no step body (checked).

The import profile (`python -X importtime`, a run of its own in each round) gives the time spent
importing: the sum of the top-level imports, ductwork's own modules (their self time), and for
the cached rerun the heaviest packages (the self time of all their modules).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

QUICK = "--quick" in sys.argv
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else (3 if QUICK else 7)
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

CASES = {
    "floor: python -c pass": ["-c", "pass"],
    "import ductwork": ["-c", "import ductwork"],
    "from ductwork import PipelineController, PipelineDecorator, Task": [
        "-c",
        "from ductwork import PipelineController, PipelineDecorator, Task",
    ],
    "cached rerun (fan-out 32, local)": ["pipeline.py"],
}


def environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH", "")) if p)
    env["DUCTWORK_HOME"] = str(work / "home")
    env["BENCH_EXEC_LOG"] = str(work / "executed.log")
    return env


def run(args: list[str], env: dict[str, str], cwd: Path, *, importtime: bool = False) -> tuple[float, str]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), *args]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stderr


def profile(stderr: str) -> tuple[float, float, dict[str, float]]:
    """(all imports, ductwork's own self time, self time by top-level package), seconds."""
    total = own = 0.0
    tops: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        module = name.strip()
        if module.startswith("ductwork"):
            own += int(self_us) / 1e6
        tops[module.partition(".")[0]] += int(self_us) / 1e6
        if not name[1:].startswith(" "):  # a top-level import: its cumulative time counts once
            total += int(cumulative_us) / 1e6
    return total, own, tops


def executed(work: Path) -> int:
    log = work / "executed.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ductwork-bench-imports-"))
    (work / "pipeline.py").write_text(PIPELINE)
    env = environment(work)
    for args in CASES.values():  # writes the bytecode caches; the pipeline's run primes its cache
        run(args, env, work)
    primed = executed(work)
    walls: dict[str, list[float]] = defaultdict(list)
    imports: dict[str, list[float]] = defaultdict(list)
    owns: dict[str, list[float]] = defaultdict(list)
    packages: dict[str, list[float]] = defaultdict(list)
    for _ in range(ROUNDS):
        for case, args in CASES.items():
            walls[case].append(run(args, env, work)[0])
            total, own, tops = profile(run(args, env, work, importtime=True)[1])
            imports[case].append(total)
            owns[case].append(own)
            if case.startswith("cached"):
                for package, seconds in tops.items():
                    packages[package].append(seconds)
    if executed(work) != primed:
        raise SystemExit(f"the cached reruns executed {executed(work) - primed} step bodies")
    report(walls, imports, owns, packages)


def report(
    walls: dict[str, list[float]],
    imports: dict[str, list[float]],
    owns: dict[str, list[float]],
    packages: dict[str, list[float]],
) -> None:
    median = statistics.median
    floor_case = next(iter(CASES))
    floor, floor_imports = median(walls[floor_case]), median(imports[floor_case])
    print(
        f"Python {sys.version.split()[0]}, {ROUNDS} alternating rounds, medians, "
        "PYTHONDONTWRITEBYTECODE unset"
    )
    print(
        f"{'whole process':<66} {'wall':>8} {'floor':>8} {'ratio':>7}   {'imports':>8} {'ductwork self':>13}"
    )
    for case in CASES:
        wall = median(walls[case])
        print(
            f"{case:<66} {wall * 1000:6.1f}ms {floor * 1000:6.1f}ms {wall / floor:6.2f}x   "
            f"{median(imports[case]) * 1000:6.1f}ms {median(owns[case]) * 1000:11.1f}ms"
        )
    cached = "cached rerun (fan-out 32, local)"
    extra = median(imports[cached]) - floor_imports
    print(
        f"\ncached rerun: {extra * 1000:.1f} ms importing beyond the floor's start-up imports; "
        "by package (self time):"
    )
    heaviest = sorted(packages.items(), key=lambda item: -median(item[1]))[:8]
    for package, seconds in heaviest:
        print(f"  {package:<30} {median(seconds) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
