"""Socket folders left behind by killed processes are swept when the next one is made: only
this user's `ductwork-*` folders whose socket nobody listens on and that have not changed for a
while; a live server's folder, a new one, one without a socket and anything else stay."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ductwork.core import sockets

OLD = time.time() - 2 * sockets.STALE_AFTER_S


@pytest.fixture
def tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary directory the sweep looks in (a short path: Unix socket paths are short)."""
    root = Path(tempfile.mkdtemp(prefix="sk-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _folder(root: Path, name: str, *, listening: bool, age: float | None = OLD) -> tuple[Path, socket.socket]:
    """A socket folder: its socket bound, and listening or not (a killed server's socket
    stays on disk and refuses connections)."""
    folder = root / name
    folder.mkdir(mode=0o700)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(folder / sockets.SOCKET))
    if listening:
        server.listen(4)
    else:
        server.close()
    if age is not None:
        os.utime(folder, (age, age))
    return folder, server


def test_a_dead_servers_folder_goes_and_the_others_stay(tmp: Path) -> None:
    dead, _ = _folder(tmp, "ductwork-pipe-dead", listening=False)
    live, server = _folder(tmp, "ductwork-fork-live", listening=True)
    new, _ = _folder(tmp, "ductwork-pipe-new", listening=False, age=None)
    other, _ = _folder(tmp, "elsewhere-dead", listening=False)
    empty = tmp / "ductwork-fork-starting"  # a fork server binds after its imports
    empty.mkdir()
    os.utime(empty, (OLD, OLD))
    try:
        assert sockets.sweep() == 1
        assert not dead.exists()
        assert {p.name for p in tmp.iterdir()} == {live.name, new.name, other.name, empty.name}
        conn, _ = server.accept()  # the probe's connection: the live server still serves
        conn.close()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(live / sockets.SOCKET))
    finally:
        server.close()


def test_what_else_is_in_a_dead_servers_folder_stays(tmp: Path) -> None:
    dead, _ = _folder(tmp, "ductwork-pipe-x", listening=False)
    (dead / "notes").write_text("not ours")
    os.utime(dead, (OLD, OLD))
    assert sockets.sweep() == 0
    assert (dead / "notes").read_text() == "not ours"


def test_a_link_to_a_dead_servers_folder_is_not_followed(tmp: Path) -> None:
    dead, _ = _folder(tmp, "target", listening=False)
    (tmp / "ductwork-pipe-link").symlink_to(dead)
    assert sockets.sweep() == 0
    assert (dead / sockets.SOCKET).exists()


def test_a_new_folder_is_private_and_made_after_the_sweep(tmp: Path) -> None:
    dead, _ = _folder(tmp, "ductwork-fork-old", listening=False)
    made = Path(sockets.folder("ductwork-pipe-"))
    assert made.parent == tmp and made.name.startswith("ductwork-pipe-")
    assert made.stat().st_mode & 0o777 == 0o700
    assert not dead.exists()


def test_a_killed_controllers_pipe_folder_goes_when_the_next_is_made(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process serving a pipe is killed: its folder stays until the next pipe server starts."""
    code = (
        "import sys, time, tempfile\n"
        f"tempfile.tempdir = {str(tmp)!r}\n"
        "from ductwork.client.pipe import PipeServer\n"
        "server = PipeServer(None)\n"
        "print(server.address, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    address = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert address.is_socket()  # left behind
    monkeypatch.setattr(sockets, "STALE_AFTER_S", 0.0)

    from ductwork.client.pipe import PipeServer

    server = PipeServer(None)  # type: ignore[arg-type]
    try:
        assert not address.parent.exists()
        assert Path(server.address).is_socket()
    finally:
        server.close()
    assert not Path(server.address).parent.exists()
