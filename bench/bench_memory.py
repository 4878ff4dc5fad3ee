"""Peak memory of big objects on their way to storage (issue 10, finding 5), beside the object.

    python bench/bench_memory.py [--mb 500]

Each case runs in a fresh process, in a fresh `$DUCTWORK_HOME`, and prints its peak RSS
(`ru_maxrss`), its floor and their ratio. The floor is what the process cannot avoid: the
interpreter with ductwork imported plus one copy of the object. The target is a peak of at most
1.5x the object plus 100 MB.

1. `task.upload_artifact(name, bytes)` as a script's last line (background upload, exit flush).
2. `task.upload_artifact(name, numpy array)` the same way.
3. A function step (`PipelineDecorator`, steps in subprocesses) returning the bytes: the step
   process's peak, and the controller's (which reads the result back only by reference).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

PRELUDE = """
    import resource, sys, os
    from ductwork import Task
    import numpy as np
    size = int(sys.argv[1])
    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = peak_mb()
"""

UPLOAD = {
    "upload bytes": "obj = os.urandom(16) * (size // 16)",
    "upload numpy": "obj = np.ones(size // 8)",
}

UPLOAD_END = """
    floor = peak_mb()
    task = Task.init("bench", "memory")
    import atexit
    atexit.register(lambda: print(f"RESULT {floor:.0f} {peak_mb():.0f}", flush=True))
    task.upload_artifact("big", obj)
"""

STEP = """
    import resource, sys
    from ductwork import PipelineDecorator
    size = int(sys.argv[1])

    @PipelineDecorator.component(return_values=["data"], cache=False)
    def make(size: int) -> bytes:
        import os, resource
        data = os.urandom(16) * (size // 16)
        return data

    @PipelineDecorator.pipeline(name="memory", project="bench", version="1")
    def run(size: int) -> None:
        make(size)

    PipelineDecorator.run_locally()
    run(size)
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"STEP {child:.0f} {own:.0f}", flush=True)
"""


def run(code: str, size: int, home: str) -> str:
    env = {**os.environ, "DUCTWORK_HOME": home, "PYTHONPATH": str(SRC)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    os.makedirs(home, exist_ok=True)
    script = os.path.join(home, "case.py")  # a file: function steps store their source
    Path(script).write_text(textwrap.dedent(code))
    done = subprocess.run(
        [sys.executable, script, str(size)], capture_output=True, text=True, env=env, cwd=home
    )
    if done.returncode != 0:
        raise SystemExit(f"case failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def base_mb(home: str) -> float:
    out = run(PRELUDE + "\n    print(f'BASE {base:.0f}')\n", 0, home)
    return float(out.split("BASE")[1].split()[0])


def line(name: str, peak: float, floor: float, verdict: str) -> str:
    return f"{name:14} peak {peak:6.0f} MB  floor {floor:6.0f} MB  ratio {peak / floor:4.2f}  [{verdict}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    args = parser.parse_args()
    size = args.mb << 20
    obj_mb = size / (1 << 20)
    target = 1.5 * obj_mb + 100
    print(f"object: {obj_mb:.0f} MB; target peak: <= 1.5 x object + 100 MB = {target:.0f} MB")
    with tempfile.TemporaryDirectory() as folder:
        base = base_mb(os.path.join(folder, "base"))
        print(f"interpreter with ductwork imported: {base:.0f} MB")
        for i, (name, make) in enumerate(UPLOAD.items()):
            out = run(PRELUDE + f"\n    {make}\n" + UPLOAD_END, size, os.path.join(folder, f"u{i}"))
            floor, peak = (float(x) for x in out.split("RESULT")[1].split()[:2])
            verdict = "ok" if peak <= target + base else "OVER"
            print(line(name, peak, floor, verdict))
        out = run(STEP, size, os.path.join(folder, "step"))
        child, own = (float(x) for x in out.split("STEP")[1].split()[:2])
        floor = base + obj_mb
        verdict = "ok" if child <= target + base else "OVER"
        print(line("step return", child, floor, verdict) + f"  (controller {own:.0f} MB)")


if __name__ == "__main__":
    main()
