"""A server killed and started again in the middle of a download: the reader's download goes
on from the byte where it broke, and the file it gets is the one stored, byte for byte. The
server, the machine that uploaded the file and the one that reads it are machines of their
own: the bytes reach the reader only through the server."""

from __future__ import annotations

import pytest
from fault_harness import open_gate, restart_server, start_script, wait_for

from machines import Machines, Server

pytestmark = pytest.mark.slow

# argv: none. Prints the task's id and the file's sha256.
UPLOAD = """
import hashlib, os

from ductwork import Task

data = os.urandom(64 << 20)  # more than the sockets between reader and server can hold
with open("big.bin", "wb") as handle:
    handle.write(data)
task = Task.init(project_name="faults", task_name="big file")
task.upload_artifact("big", artifact_object="big.bin", wait_on_upload=True)
task.close()
print(task.id, hashlib.sha256(data).hexdigest())
"""

# argv: the task's id, the gate file. Reads the first chunk, waits at the gate (the test
# restarts the server meanwhile), reads the rest; prints each Range it asked and the sha256.
DOWNLOAD = """
import hashlib, os, sys, time

from ductwork import client
from ductwork.client import wire

asked = []
stream = wire.Wire.stream


def recorded(self, method, path, **options):
    asked.append((options.get("headers") or {}).get("Range"))
    return stream(self, method, path, **options)


wire.Wire.stream = recorded
task_id, gate = sys.argv[1:]
digest = hashlib.sha256()
chunks = client.backend().download_artifact_content(task_id, "big")
digest.update(next(chunks))
print("STARTED", flush=True)
while not os.path.exists(gate):
    time.sleep(0.05)
for chunk in chunks:
    digest.update(chunk)
print("ASKED", asked, flush=True)
print("SHA", digest.hexdigest(), flush=True)
"""


def test_a_download_goes_on_across_a_server_restart(machines: Machines, server: Server) -> None:
    uploader, reader = machines.client("laptop"), machines.client("desk")
    task_id, sha = uploader.run(UPLOAD).split()[-2:]

    download = start_script(reader, DOWNLOAD, task_id, "gate", log="download.log")
    wait_for("the download to start", lambda: "STARTED" in reader.log("download.log"))
    restart_server(server, down_s=1.0)
    open_gate(reader)
    assert download.wait(180) == 0, reader.log("download.log")

    printed = reader.log("download.log")
    assert f"SHA {sha}" in printed, printed
    asked = printed.split("ASKED ", 1)[1].splitlines()[0]
    assert "'bytes=" in asked, printed  # it went on from where it broke, not from the start
