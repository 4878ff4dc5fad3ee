"""What a separate machine (tests/machines.py) adds to a process start.

    python bench/bench_machines.py [--runs 30]

Each machine's process enters a mount namespace of its own and covers the shared folders
before it becomes the command (`unshare`, `sh`, one `mount` per covered folder). Floor: the
same command started plainly with `subprocess.run`. Also the time to get a server (with its
accounts) and an agent ready on machines of their own, which every remote test module pays.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from machines import Machines, installed_env


def medians_ms(
    plain: list[str], on_machine: list[str], machine_env: dict[str, str], runs: int
) -> tuple[float, float]:
    """Median start-to-end times of both commands, run in turns (so a busy spell costs both)."""
    took: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for times, argv, env in ((took[0], plain, installed_env()), (took[1], on_machine, machine_env)):
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return statistics.median(took[0]) * 1000, statistics.median(took[1]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-machines-") as folder, Machines(Path(folder)) as machines:
        machine = machines.machine("bench")
        print(f"covered on each machine: {', '.join(machine.hidden)}")
        for label, argv in (
            ("/bin/true", ["/bin/true"]),
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import ductwork'", [sys.executable, "-c", "import ductwork"]),
        ):
            plain, on_machine = medians_ms(argv, machine.command(argv), machine.env, args.runs)
            print(
                f"{label:30} plain {plain:7.1f} ms   on a machine {on_machine:7.1f} ms"
                f"   +{on_machine - plain:5.1f} ms   ratio {on_machine / plain:4.2f}"
            )
        start = time.perf_counter()
        machines.server()
        ready = time.perf_counter()
        machines.agent("agent", queues=["default"])
        print(
            f"server with accounts ready {ready - start:5.2f} s; "
            f"agent registered {time.perf_counter() - ready:5.2f} s"
        )


if __name__ == "__main__":
    main()
