"""An agent's console batches (`agent.process.ConsoleStream`), sent with no thread of their own:
a short run's lines wait for its end, a longer run's go once FLUSH_EVERY_S passed (from the
writer or the supervision tick), a full batch at once, and nothing is lost or reordered."""

from __future__ import annotations

import threading

import pytest

from ductwork.agent import process
from ductwork.agent.process import ConsoleStream
from ductwork.core.records import ConsoleLine


def _stream() -> tuple[ConsoleStream, list[list[ConsoleLine]]]:
    batches: list[list[ConsoleLine]] = []
    return ConsoleStream("t" * 32, batches.append), batches


def test_a_short_runs_lines_go_with_its_end() -> None:
    console, batches = _stream()
    console.write("pulled", "ductwork")
    console.lines("stdout", ["tiny 2\r"])
    console.flush_due()  # the supervision tick, well within FLUSH_EVERY_S
    assert batches == []
    assert [(x.text, x.stream) for x in console.take()] == [("pulled", "ductwork"), ("tiny 2", "stdout")]
    console.write("after the end")  # sent by close, not held forever
    console.flush_due()
    assert batches == []
    console.close()
    assert [[x.text for x in batch] for batch in batches] == [["after the end"]]
    console.close()  # again: nothing more
    assert len(batches) == 1


def test_a_longer_runs_lines_go_once_the_interval_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "FLUSH_EVERY_S", 0.0)
    console, batches = _stream()
    console.write("one")  # due at once: the writer sends it
    console.flush_due()  # nothing waits: no empty batch
    assert [[x.text for x in b] for b in batches] == [["one"]]
    console._lines.append(ConsoleLine(console.task_id, "quiet"))  # written just before a tick
    console.flush_due()
    assert [[x.text for x in b] for b in batches] == [["one"], ["quiet"]]
    assert console.take() == []


def test_a_full_batch_goes_at_once_and_order_holds_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    console, batches = _stream()
    for n in range(process.FLUSH_LINES):
        console.write(f"line {n}")
    assert len(batches) == 1 and len(batches[0]) == process.FLUSH_LINES
    monkeypatch.setattr(process, "FLUSH_EVERY_S", 0.0)
    writers = [
        threading.Thread(target=lambda name=name: [console.write(f"{name} {n}") for n in range(300)])
        for name in ("out", "err")
    ]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    sent = [x.text for batch in batches for x in batch] + [x.text for x in console.take()]
    assert len(sent) == process.FLUSH_LINES + 600
    for name in ("out", "err"):  # each writer's lines in its own order, none lost
        assert [t for t in sent if t.startswith(name)] == [f"{name} {n}" for n in range(300)]


def test_a_batch_that_cannot_be_sent_is_said_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(lines: list[ConsoleLine]) -> None:
        raise OSError("server away")

    console = ConsoleStream("t" * 32, refuse)
    console.write("lost")
    console.close()
    assert "could not send console" in capsys.readouterr().out
