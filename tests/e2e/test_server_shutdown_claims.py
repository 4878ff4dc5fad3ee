"""A `ductwork server` stopped while agents long-poll (issue 14): each waiting claim answers at
once, a 503 that its agent retries quietly, or null when the call already recorded the end of
its worker's last run (a retry would say that end twice); none is cancelled into a 500 when
the graceful shutdown's time is up.

The server is a separate process with its own home; the claims are raw HTTP calls (a client
would retry the 503 itself).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"
LONG = 30.0  # a claim's wait: longer than the graceful shutdown (3 s) that would cancel it


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env.update(DUCTWORK_HOME=str(tmp_path / "home"), PYTHONPATH=str(SRC))
    server = subprocess.Popen(
        [sys.executable, "-m", "ductwork", "server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdout is not None
    token = ""
    for line in server.stdout:
        if "export DUCTWORK_API_KEY=" in line:
            token = line.split("=", 1)[1].strip()
        if "ductwork server on " in line:
            return server, line.split(" on ", 1)[1].split()[0], token
    raise AssertionError(f"the server did not start: {server.communicate()}")


def test_waiting_claims_answer_at_once_when_the_server_stops(tmp_path: Path) -> None:
    server, url, token = _start(tmp_path)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
            for queue in ("work", "empty"):
                assert api.post("/api/queues", json={"name": queue}).status_code == 200
            task = api.post("/api/tasks", json={"name": "t", "script": {"code": "pass"}}).json()
            api.post("/api/queues/work/entries", json={"task_id": task["id"]}).raise_for_status()
            run = api.post("/api/claims", json={"queues": ["work"], "worker": "w1"}).json()
            assert run["id"] == task["id"]
            end = {"task_id": run["id"], "worker": "w1", "started": run["started"], "status": "completed"}

            def claim(body: dict[str, Any]) -> httpx.Response:
                return api.post("/api/claims", json={"queues": ["empty"], "wait": LONG, **body})

            with ThreadPoolExecutor(2) as pool:
                idle = pool.submit(claim, {"worker": "w2"})
                ending = pool.submit(claim, {"worker": "w1", "end": end})
                deadline = time.monotonic() + 60
                while api.get(f"/api/tasks/{run['id']}").json()["status"] != "completed":
                    assert time.monotonic() < deadline and not ending.done(), "the end was never recorded"
                    time.sleep(0.02)
                server.send_signal(signal.SIGTERM)  # both claims wait on the empty queue
                idle_answer, ending_answer = idle.result(timeout=60), ending.result(timeout=60)
        assert idle_answer.status_code == 503, idle_answer.text
        assert "shutting down" in idle_answer.json()["message"]
        assert (ending_answer.status_code, ending_answer.json()) == (200, None)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    assert "Traceback" not in stderr and "timeout graceful shutdown exceeded" not in stderr, stderr
