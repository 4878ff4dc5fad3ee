"""Soak: writer processes report scalars to a real server while it is killed and restarted.

    python bench/bench_soak.py [--writers 8] [--points 100000] [--restarts 2] [--db-url URL]

Each writer is a script using the public SDK (`Task.init`, `Logger.report_scalar`, then
`flush(wait_for_uploads=True)`); it prints `ACK <task> <n>` once the flush returned, i.e. the
SDK says the n points are stored. The server is killed with SIGKILL (no graceful shutdown)
when a third and two thirds of the points are in, and started again on the same port.

Printed: points sent, acknowledged, stored (distinct per writer and iteration), duplicates,
the time, and the floor: the same writers against a server nobody restarts (--no-floor to
skip). Exits non-zero unless every acknowledged point is in the store.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

WRITER = """
import sys
from ductwork import Task

points = int(sys.argv[1])
task = Task.init(project_name="soak", task_name=sys.argv[2])
logger = task.get_logger()
for i in range(points):
    logger.report_scalar("soak", "value", value=float(i), iteration=i)
task.flush(wait_for_uploads=True)
print("ACK", task.id, points, flush=True)
task.close()
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["DUCTWORK_HOME"] = str(home)
    env.update(extra)
    return env


@dataclass
class Server:
    home: Path
    db_url: str | None
    port: int = 0
    key: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not self.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = int(probe.getsockname()[1])
        extra = {"DUCTWORK_DB_URL": self.db_url} if self.db_url else {}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ductwork", "server", "--port", str(self.port)],
            env=_env(self.home, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out = self.process.stdout
        assert out is not None
        if not self.key:  # the first start prints the first admin's key
            deadline = time.monotonic() + 60
            while not self.key and time.monotonic() < deadline:
                line = out.readline().decode()
                if "API key:" in line:
                    self.key = line.split("API key:")[1].strip()
                elif not line and self.process.poll() is not None:
                    raise RuntimeError("the server exited before printing its first key")
        threading.Thread(target=out.read, daemon=True).start()  # never block on its output
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the server at {self.url} did not answer")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Result:
    sent: int = 0
    acknowledged: int = 0
    stored: int = 0
    duplicates: int = 0
    missing: int = 0  # acknowledged points not in the store
    seconds: float = 0.0
    restarts: int = 0
    failed_writers: list[str] = field(default_factory=list)


def soak(
    writers: int,
    points: int,
    restarts: int,
    *,
    db_url: str | None = None,
    down_s: float = 1.0,
    work: Path | None = None,
) -> Result:
    """Run the soak once; `restarts` server kills spread over the points' arrival."""
    work = work or Path(tempfile.mkdtemp(prefix="ductwork-soak-"))
    server = Server(work / "server-home", db_url)
    server.start()
    result = Result(sent=writers * points)
    started = time.monotonic()
    procs = []
    try:
        client_env = {"DUCTWORK_API_URL": server.url, "DUCTWORK_API_KEY": server.key}
        for n in range(writers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(points), f"writer {n}"],
                    env=_env(work / f"writer-{n}", **client_env),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        marks = [result.sent * (i + 1) // (restarts + 1) for i in range(restarts)]
        for mark in marks:
            while _stored_so_far(server) < mark and any(p.poll() is None for p in procs):
                time.sleep(0.2)
            server.kill()
            time.sleep(down_s)
            server.start()
            result.restarts += 1
        outputs = [proc.communicate(timeout=900) for proc in procs]
        result.seconds = time.monotonic() - started
        in_store = _stored(server)
        for n, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
            acked = [line.split() for line in out.decode().splitlines() if line.startswith("ACK ")]
            if proc.returncode != 0 or not acked:
                result.failed_writers.append(f"writer {n} (exit {proc.returncode}): {err.decode()[-500:]}")
            stored = in_store.get(f"writer {n}", {})
            result.stored += len(stored)
            result.duplicates += sum(count - 1 for count in stored.values())
            if proc.returncode == 0 and acked:
                count = int(acked[-1][2])
                result.acknowledged += count
                result.missing += sum(1 for i in range(count) if i not in stored)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        server.stop()
    return result


def _db(server: Server) -> str:
    return server.db_url or f"sqlite:///{server.home / 'ductwork.db'}"


def _stored_so_far(server: Server) -> int:
    """Scalar points in the store now (the restart trigger): one count, read-only."""
    import sqlalchemy as sa

    engine = sa.create_engine(_db(server))
    try:
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    # 8 bytes per point in a chunk's iterations (store/chunks.py)
                    "SELECT sum(length(c.iterations)) / 8 FROM chunks c JOIN series s ON s.id = c.series_id"
                    " WHERE s.kind = 'scalar' AND s.title = 'soak'"
                ).scalar()
                or 0
            )
    except sa.exc.SQLAlchemyError:
        return 0
    finally:
        engine.dispose()


def _stored(server: Server) -> dict[str, dict[int, int]]:
    """writer task name -> iteration -> how many times it is stored."""
    import sqlalchemy as sa

    from ductwork.store import chunks

    engine = sa.create_engine(_db(server))
    found: dict[str, dict[int, int]] = {}
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT t.name, c.iterations FROM chunks c JOIN series s ON s.id = c.series_id"
                " JOIN tasks t ON t.id = s.task_id WHERE s.kind = 'scalar' AND s.title = 'soak'"
            )
            for name, packed in rows:
                counts = found.setdefault(str(name), {})
                for iteration in chunks.unpack("q", bytes(packed)):
                    counts[iteration] = counts.get(iteration, 0) + 1
    finally:
        engine.dispose()
    return found


def report(label: str, result: Result) -> None:
    print(f"{label}: {result.restarts} server restart(s), {result.seconds:.1f} s")
    print(f"  points sent          {result.sent:>10,}")
    print(f"  points acknowledged  {result.acknowledged:>10,}")
    print(f"  points stored        {result.stored:>10,}  (duplicates {result.duplicates:,})")
    print(f"  acknowledged missing {result.missing:>10,}")
    for failure in result.failed_writers:
        print(f"  failed: {failure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--down", type=float, default=1.0, help="seconds the server stays down")
    parser.add_argument("--db-url", default=None, help="PostgreSQL URL of an empty database")
    parser.add_argument("--no-floor", action="store_true", help="skip the run without restarts")
    args = parser.parse_args()
    result = soak(args.writers, args.points, args.restarts, db_url=args.db_url, down_s=args.down)
    report("soak", result)
    if not args.no_floor:
        if args.db_url:
            print("floor skipped: it needs a second empty database (run it with --restarts 0)")
        else:
            floor = soak(args.writers, args.points, 0)
            report("floor (no restart)", floor)
            print(f"  time ratio soak/floor {result.seconds / max(floor.seconds, 1e-9):.2f}x")
    ok = result.missing == 0 and result.acknowledged == result.sent and not result.failed_writers
    print(f"every acknowledged point stored: {'yes' if result.missing == 0 else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
