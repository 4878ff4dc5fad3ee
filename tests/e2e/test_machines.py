"""The separate-machines fixture itself: each machine sees its own folder and installed
software, never another machine's folder or the test's temporary folders."""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from machines import Machines, check_unshare

PROBE = textwrap.dedent(
    """
    import json, os, sys

    def readable(path):
        try:
            with open(path) as handle:
                return handle.read()
        except OSError as error:
            return type(error).__name__

    print(json.dumps({path: readable(path) for path in sys.argv[1:]}))
    """
)


def test_a_machine_reads_its_own_files_and_no_other_machines(machines: Machines) -> None:
    first, second = machines.machine("first"), machines.machine("second")
    (first.home / "mine.txt").write_text("first's")
    (second.home / "secret.txt").write_text("second's")

    seen = json.loads(first.run(PROBE, str(first.home / "mine.txt"), str(second.home / "secret.txt")))

    assert seen == {
        str(first.home / "mine.txt"): "first's",
        str(second.home / "secret.txt"): "FileNotFoundError",
    }


def test_a_machine_started_later_is_hidden_from_running_processes(machines: Machines) -> None:
    """The whole machines folder is covered, so a machine made after a process started is
    hidden from it too (not only those that existed when it started)."""
    early = machines.machine("early")
    waiting = early.start(
        [
            sys.executable,
            "-c",
            "import os, time\n"
            "while not os.path.exists('go'): time.sleep(0.02)\n"
            "print(os.path.exists(open('go').read()), sorted(os.listdir('../..')))",
        ],
        "probe.log",
    )
    late = machines.machine("late")
    (late.home / "secret.txt").write_text("late's")
    (early.work / "go").write_text(str(late.home / "secret.txt"))
    assert waiting.wait(60) == 0, early.log("probe.log")
    exists, names = early.log("probe.log").split(" ", 1)
    assert exists == "False"
    assert "late" not in names and "early" in names


def test_a_machine_sees_no_temporary_folder_of_the_test(
    machines: Machines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "test-only.txt").write_text("the test's")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as shared:
        shared.write("in the host's /tmp")
    monkeypatch.setenv("DUCTWORK_DB_URL", "sqlite:////test/only.db")
    machine = machines.machine("alone")
    try:
        seen = json.loads(machine.run(PROBE, str(tmp_path / "test-only.txt"), shared.name))
    finally:
        Path(shared.name).unlink()
    assert set(seen.values()) == {"FileNotFoundError"}, seen
    facts = json.loads(
        machine.python(
            "import json, os, tempfile, ductwork; print(json.dumps([os.getcwd(), tempfile.gettempdir(),"
            " os.environ['DUCTWORK_HOME'], [k for k in os.environ if k.startswith('DUCTWORK_')],"
            " os.path.dirname(ductwork.__file__)]))"
        )
    )
    cwd, tmp, home, names, package = facts
    assert (cwd, tmp, home) == (str(machine.work), str(machine.root / "tmp"), str(machine.home))
    assert names == ["DUCTWORK_HOME"]  # the test's DUCTWORK_DB_URL stays out
    assert Path(package).is_dir()  # installed software is shared


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_server_an_agent_and_a_client_each_on_their_own_machine(machines: Machines, db: str) -> None:
    server = machines.server(db=db)
    agent = machines.agent("worker-1", queues=["default"])
    client = machines.client("laptop")
    whoami = client.python(
        "from ductwork import Task\n"
        "task = Task.init(project_name='machines', task_name='hello')\n"
        "task.upload_artifact('answer', {'value': 42})\n"
        "task.close()\n"
        "print(task.id)"
    )
    assert server.api.get_task(whoami).user == "alice"
    assert [w.queues for w in server.workers("worker-1")] == [["default"]]
    reader = machines.client("reader")
    value = reader.python(
        f"from ductwork import Task; print(Task.get_task(task_id={whoami!r}).artifacts['answer'].get())"
    )
    assert value == "{'value': 42}"
    # nothing of the client's work reached the agent's or the reader's home
    assert not list((agent.home).rglob("*answer*")) and not list(reader.home.rglob("*answer*"))


def test_without_unshare_the_machines_fail_and_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a silent fall back to one shared namespace."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no `unshare` on it
    with pytest.raises(pytest.fail.Exception, match="need util-linux's `unshare`"):
        check_unshare()
