"""A live server for agent tests, over the test's store (SQLite and PostgreSQL), and agents
that reach it from machines of their own (tests/machines.py).

The server runs in the test process, which is no machine: its store and artifact root stay in
the test's folders, hidden from every agent. An agent through the server thus shares nothing
with it but HTTP, as on another host; the embedded agent (no server) is one machine by design
and its tests start it beside the store.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import subprocess

    from machines import Machine, Machines

SERVER_CONFTEST = Path(__file__).resolve().parents[1] / "server" / "conftest.py"


def _server_helpers() -> Any:
    spec = importlib.util.spec_from_file_location("_server_conftest", SERVER_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def live_server(store: Any, tmp_path: Path) -> Iterator[Any]:
    """A live server over the test's store (see tests/integration/server/conftest.py)."""
    helpers = _server_helpers()
    store.create_user("alice", password="wonderland", admin=True)
    key = store.create_api_key("alice").token
    server = helpers.start_server(store, key=key, artifacts_uri=str(tmp_path / "server-artifacts"))
    yield server
    server.stop()


@dataclass
class ServerAgents:
    """Agents of `live_server`, each `python -m ductwork.agent` on a machine of its own."""

    machines: Machines
    server: Any

    def start(self, name: str, *args: str) -> tuple[Machine, subprocess.Popen[bytes]]:
        """Agent `--name NAME ARGS` on new machine `name`; its output is the machine's agent.log."""
        machine = self.machines.machine(
            name, DUCTWORK_API_URL=self.server.url, DUCTWORK_API_KEY=self.server.key
        )
        process = machine.start([sys.executable, "-m", "ductwork.agent", "--name", name, *args], "agent.log")
        return machine, process


@pytest.fixture
def server_agents(live_server: Any, machines: Machines) -> ServerAgents:
    return ServerAgents(machines, live_server)
