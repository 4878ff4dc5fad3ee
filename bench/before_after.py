"""The benchmarks on two versions of ductwork, alternating, with each figure before and after.

    python bench/before_after.py --base REV [--rounds 2] [--only pipelines,store,...] [--log FILE]

`REV`'s `src/` is exported (`git archive`) to a temporary folder beside a copy of this checkout's
`bench/`, so every benchmark script is this checkout's own and finds the sources it measures
where it looks for them (its `../src`, and `PYTHONPATH`). Each runs once on REV and once on this
checkout, alternating in each round, so the two versions meet the same machine load. Each output line that
starts with a label and a number becomes a figure; the table gives the median of the rounds'
first numbers before and after, and their ratio. Full outputs go to `--log`.

A benchmark that cannot run against the older sources (it uses a function REV lacks) is shown
as failed for that side; its output is in the log.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PEERS = ROOT.parent / "shared" / "bench-peers"  # bench_pipelines' whole-process workloads
PG = "postgresql://postgres@127.0.0.1:5432/"

# name -> the script and its arguments; "{pg}" is a fresh PostgreSQL database for each run
BENCHES: dict[str, list[str]] = {
    "pipelines": ["bench_pipelines.py"],
    "pipelines-quick": ["bench_pipelines.py", "--quick"],  # 2,000 steps: an older tree closes that run
    "local": ["bench_local.py"],
    "store": ["bench_store.py"],
    "imports": ["bench_imports.py"],
    "server-sqlite": ["bench_server.py"],
    "server-pg": ["bench_server.py", "--db-url", "{pg}"],
    "runs-sqlite": ["bench_server.py", "--runs-only"],  # the runs list of 10,000 runs alone
    "runs-pg": ["bench_server.py", "--runs-only", "--db-url", "{pg}"],
    "bodies": ["bench_bodies.py"],  # a 5,000-event metrics POST through the app
    "checks": ["bench_checks.py"],  # the store's checks and encodings of a debug step's rows
    "ui": ["bench_ui.py"],  # the run page in headless Chromium, and a pushed status change
}

# "  label text    12.3 ms ..." : the label, then two or more spaces, then the first number
FIGURE = re.compile(r"^\s*(?P<label>\S.*?)\s{2,}(?P<value>-?[\d,]*\.?\d+)(?![\d.,])")  # "0.37s" reads 0.37
SAMPLES = re.compile(r"\s*\(n=\d+\)")


def export(rev: str, folder: Path) -> Path:
    """A tree of REV's src/ (from git: no work tree of REV is made) and this checkout's bench/."""
    archive = folder / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    shutil.copytree(BENCH, folder / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def fresh_database() -> str:
    import psycopg

    name = "dw_before_after_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(script: list[str], tree: Path) -> tuple[bool, str]:
    """One benchmark run in `tree` (its bench/ on its src/): whether it succeeded, and its output."""
    database = fresh_database() if "{pg}" in script else None
    args = [a.replace("{pg}", PG + (database or "")) for a in script]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DUCTWORK_DB_URL")}
    env["PYTHONPATH"] = str(tree / "src")
    env.setdefault("BENCH_PEERS_DIR", str(PEERS))
    try:
        done = subprocess.run(
            [sys.executable, str(tree / "bench" / args[0]), *args[1:]],
            env=env,
            cwd=tree,
            capture_output=True,
            text=True,
        )
    finally:
        if database:
            drop_database(database)
    return done.returncode == 0, done.stdout + done.stderr


def figures(output: str) -> dict[str, float]:
    """Label -> first number of each figure line. A line labelled only "cpu" takes the previous
    label with " (cpu)"; a sample count "(n=...)" is no part of a label; a label met again (a
    second section of the same rows) is numbered, so both versions' rows pair up in order."""
    out: dict[str, float] = {}
    previous = ""
    for line in output.splitlines():
        match = FIGURE.match(line)
        if not match:
            continue
        label = SAMPLES.sub("", match["label"]).strip()
        if label in ("cpu", "") or label.startswith("cpu "):
            label = f"{previous} (cpu)"
        else:
            previous = label
        seen, numbered = 1, label
        while numbered in out:
            seen += 1
            numbered = f"{label} #{seen}"
        out[numbered] = float(match["value"].replace(",", ""))
    return out


def table(name: str, before: list[dict[str, float]], after: list[dict[str, float]]) -> None:
    labels = list(dict.fromkeys([label for side in (after, before) for run in side for label in run]))
    print(f"\n{name}")
    print(f"  {'figure':<58}{'before':>12}{'after':>12}{'after/before':>14}")
    for label in labels:
        b = [run[label] for run in before if label in run]
        a = [run[label] for run in after if label in run]
        mb = statistics.median(b) if b else None
        ma = statistics.median(a) if a else None
        ratio = f"{ma / mb:14.2f}" if mb and ma is not None else f"{'':>14}"
        show_b = f"{mb:12,.3f}" if mb is not None else f"{'-':>12}"
        show_a = f"{ma:12,.3f}" if ma is not None else f"{'-':>12}"
        print(f"  {label[:57]:<58}{show_b}{show_a}{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the git revision measured as 'before'")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    parser.add_argument("--log", default=str(Path(tempfile.gettempdir()) / "ductwork-before-after.log"))
    opts = parser.parse_args()
    names = [n for n in opts.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    base = export(opts.base, Path(tempfile.mkdtemp(prefix="ductwork-base-")))
    sides = {"before": base, "after": ROOT}
    print(f"before: {opts.base} ({base}); after: this checkout; {opts.rounds} alternating rounds")
    print(f"load: {os.getloadavg()[0]:.1f}; full outputs in {opts.log}")
    with open(opts.log, "w") as log:
        for name in names:
            results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for round_ in range(opts.rounds):
                for side, tree in sides.items():
                    ok, output = run(BENCHES[name], tree)
                    log.write(f"===== {name} round {round_ + 1} {side} ok={ok}\n{output}\n")
                    log.flush()
                    if ok:
                        results[side].append(figures(output))
            table(name, results["before"], results["after"])
            sys.stdout.flush()


if __name__ == "__main__":
    main()
