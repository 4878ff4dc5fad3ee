"""Automatic capture: console per context, argparse, matplotlib, TensorBoard writers."""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core.queries import EventQuery
from ductwork.sdk.capture import console, tensorboard


def console_of(task: Task) -> list[tuple[str, str]]:
    task.flush()
    return [(line.stream, line.text) for line in task._backend.get_console(task.id)]


# ---- console ---------------------------------------------------------------------------------


def test_prints_go_to_the_current_task_of_each_context(sdk_home: Path) -> None:
    main = Task.init("capture", "main")
    steps = [Task._from_record(Task.create(project_name="capture", task_name=f"s{i}").data) for i in range(4)]
    barrier = threading.Barrier(len(steps))

    def work(step: Task) -> None:
        with Task._activate(step):
            barrier.wait()
            for i in range(50):
                print(f"{step.name} line {i}")

    threads = [threading.Thread(target=work, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("main line")
    for step in steps:
        assert [text for _, text in console_of(step)] == [f"{step.name} line {i}" for i in range(50)]
    assert ("stdout", "main line") in console_of(main)
    assert not any("line 0" in text for _, text in console_of(main))


def test_partial_lines_stderr_and_long_lines(sdk_home: Path) -> None:
    task = Task.init("capture", "streams")
    sys.stdout.write("progress ")
    sys.stdout.write("50%")
    sys.stdout.write(" done\nnext")
    print("oops", file=sys.stderr)
    task.flush()
    sys.stdout.write("x" * 70_000 + "\n")
    lines = console_of(task)
    assert ("stdout", "progress 50% done") in lines
    assert ("stdout", "next") in lines  # an unfinished line is kept at flush
    assert ("stderr", "oops") in lines
    assert ("stdout", "x" * 65536) in lines and ("stdout", "x" * (70_000 - 65536)) in lines


def test_logging_handlers_made_before_init_are_captured(sdk_home: Path) -> None:
    import logging

    logger = logging.getLogger("ductwork-test-early")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        task = Task.init("capture", "logging")
        logger.info("a log record")
        assert ("stderr", "a log record") in console_of(task)
    finally:
        logger.removeHandler(handler)


def test_streams_can_be_switched_off(sdk_home: Path) -> None:
    task = Task.init("capture", "quiet", auto_connect_streams={"stdout": False, "stderr": True})
    print("not recorded")
    print("recorded", file=sys.stderr)
    assert console_of(task) == [("stderr", "recorded")]


def test_no_capture_at_all(sdk_home: Path) -> None:
    task = Task.init("capture", "off", auto_connect_streams=False)
    print("nothing")
    assert console_of(task) == []


def test_a_supervisor_that_captures_output_disables_ours(
    sdk_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUCTWORK_CONSOLE_CAPTURED", "1")
    task = Task.init("capture", "supervised")
    print("recorded by the supervisor")
    assert console_of(task) == []


def test_the_proxy_behaves_like_the_stream(sdk_home: Path) -> None:
    Task.init("capture", "proxy")
    assert isinstance(sys.stdout, console.StreamProxy)
    assert sys.stdout.write("abc\n") == 4
    assert sys.stdout.encoding == console.original_stdout().encoding
    sys.stdout.flush()


# ---- argparse --------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser()
    made.add_argument("--lr", type=float, default=0.1)
    made.add_argument("--epochs", type=int, default=None)
    made.add_argument("--names", nargs="+", default=["a"])
    return made


def test_arguments_parsed_after_init_are_connected(sdk_home: Path) -> None:
    task = Task.init("capture", "args")
    parser().parse_args(["--lr", "0.5", "--names", "x", "y"])
    assert task.get_parameters(cast=True) == {"Args/lr": 0.5, "Args/epochs": None, "Args/names": ["x", "y"]}


def test_arguments_parsed_before_init_are_connected(sdk_home: Path) -> None:
    parser().parse_args(["--epochs", "4"])
    task = Task.init("capture", "args-before")
    assert task.get_parameters(cast=True)["Args/epochs"] == 4


def test_under_an_agent_stored_arguments_win(sdk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draft = Task.create(project_name="capture", task_name="agent-args")
    draft.set_parameters({"Args/lr": "0.001", "Args/epochs": "20", "Args/names": "['p', 'q']"})
    monkeypatch.setenv("DUCTWORK_TASK_ID", draft.id)
    Task.init()
    args = parser().parse_args([])
    assert (args.lr, args.epochs, args.names) == (0.001, 20, ["p", "q"])


def test_argparse_capture_can_be_switched_off(sdk_home: Path) -> None:
    task = Task.init("capture", "no-args", auto_connect_arg_parser=False)
    parser().parse_args([])
    assert task.get_parameters() == {}


# ---- matplotlib ------------------------------------------------------------------------------


@pytest.fixture
def plt() -> Iterator[types.ModuleType]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def images(task: Task) -> list[tuple[str, str, int]]:
    task.get_logger().flush(wait=True)
    found = task._backend.get_events(EventQuery(task_id=task.id, kind="image"))
    return sorted((e.title, e.series, e.iteration) for e in found)


def test_shown_and_saved_figures_become_plots(sdk_home: Path, plt: types.ModuleType, tmp_path: Path) -> None:
    task = Task.init("capture", "mpl")
    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    axes.set_title("loss curve")
    plt.show()
    plt.show()  # unchanged: reported once
    axes.plot([3, 2, 1])
    figure.savefig(tmp_path / "out.png")
    assert (tmp_path / "out.png").exists()
    assert images(task) == [("loss curve", "plot", 0), ("loss curve", "savefig", 1)]
    plots = task._backend.get_events(EventQuery(task_id=task.id, kind="plot"))
    assert len(plots[-1].payload["data"]) == 2


def test_matplotlib_capture_can_be_switched_off(sdk_home: Path, plt: types.ModuleType) -> None:
    task = Task.init("capture", "mpl-off", auto_connect_frameworks={"matplotlib": False})
    plt.plot([1, 2])
    plt.show()
    assert images(task) == []


# ---- TensorBoard -----------------------------------------------------------------------------


class FakeWriter:
    """The SummaryWriter methods capture patches, recording what the real one would write."""

    def __init__(self) -> None:
        self.written: list[tuple[str, float, int | None]] = []

    def add_scalar(
        self, tag: str, scalar_value: float, global_step: int | None = None, walltime=None
    ) -> None:  # type: ignore[no-untyped-def]
        self.written.append((tag, scalar_value, global_step))

    def add_scalars(
        self, main_tag: str, tag_scalar_dict: dict[str, float], global_step: int | None = None
    ) -> None:
        for tag, value in tag_scalar_dict.items():
            self.written.append((f"{main_tag}/{tag}", value, global_step))

    def add_histogram(
        self, tag: str, values: object, global_step: int | None = None, bins: str = "tf"
    ) -> None:
        self.written.append((tag, 0.0, global_step))

    def add_image(
        self, tag: str, img_tensor: object, global_step: int | None = None, dataformats: str = "CHW"
    ) -> None:
        self.written.append((tag, 0.0, global_step))

    def add_text(self, tag: str, text_string: str, global_step: int | None = None) -> None:
        self.written.append((tag, 0.0, global_step))


@pytest.fixture
def fake_tensorboardx(monkeypatch: pytest.MonkeyPatch) -> type[FakeWriter]:
    writer = type("SummaryWriter", (FakeWriter,), {})
    module = types.ModuleType("tensorboardX")
    module.SummaryWriter = writer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorboardX", module)
    return writer


def scalars(task: Task) -> dict[str, object]:
    return task.get_reported_scalars()


def test_tensorboard_scalars_already_imported(sdk_home: Path, fake_tensorboardx: type[FakeWriter]) -> None:
    task = Task.init("capture", "tb")
    writer = fake_tensorboardx()
    writer.add_scalar("loss/train", 0.5, 0)
    writer.add_scalar("loss/train", 0.25, 1)
    writer.add_scalar("accuracy", 0.9)
    writer.add_scalars("lr", {"group0": 0.1, "group1": 0.2}, 3)
    assert writer.written[0] == ("loss/train", 0.5, 0)  # the real writer still runs
    assert scalars(task) == {
        "loss": {"train": {"x": [0, 1], "y": [0.5, 0.25]}},
        "accuracy": {"accuracy": {"x": [0], "y": [0.9]}},
        "lr": {"group0": {"x": [3], "y": [0.1]}, "group1": {"x": [3], "y": [0.2]}},
    }


def test_tensorboard_histograms_images_and_text(sdk_home: Path, fake_tensorboardx: type[FakeWriter]) -> None:
    import numpy as np

    task = Task.init("capture", "tb-more")
    writer = fake_tensorboardx()
    writer.add_histogram("weights/layer1", np.random.default_rng(0).normal(size=1000), 3)
    writer.add_image("samples/input", np.random.default_rng(1).random((3, 8, 5)), 4)
    writer.add_image("samples/gray", np.zeros((6, 7, 1)), 4, dataformats="HWC")
    writer.add_text("notes", "first epoch done", 1)
    assert len(writer.written) == 4
    task.get_logger().flush(wait=True)
    backend = task._backend
    (histogram,) = backend.get_events(EventQuery(task_id=task.id, kind="histogram"))
    assert (histogram.title, histogram.series, histogram.iteration) == ("weights", "layer1", 3)
    assert sum(histogram.payload["data"][0]["y"]) == 1000
    images = backend.get_events(EventQuery(task_id=task.id, kind="image"))
    assert sorted((e.series, e.iteration) for e in images) == [("gray", 4), ("input", 4)]
    task.flush()
    assert "notes/notes [1]: first epoch done" in [line.text for line in backend.get_console(task.id)]


def test_tensorboard_capture_switched_off(sdk_home: Path, fake_tensorboardx: type[FakeWriter]) -> None:
    task = Task.init("capture", "tb-off", auto_connect_frameworks={"tensorboard": False})
    fake_tensorboardx().add_scalar("loss", 1.0, 0)
    assert scalars(task) == {}


def test_tensorboard_patched_when_imported_after_init(
    sdk_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pkgs" / "tensorboardX"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "class SummaryWriter:\n"
        "    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):\n"
        "        return 'written'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    monkeypatch.delitem(sys.modules, "tensorboardX", raising=False)
    task = Task.init("capture", "tb-hook")
    try:
        module = importlib.import_module("tensorboardX")
        assert module.SummaryWriter().add_scalar("metric/a", 3.0, 7) == "written"
        assert scalars(task) == {"metric": {"a": {"x": [7], "y": [3.0]}}}
    finally:
        sys.modules.pop("tensorboardX", None)


def test_real_tensorboardx(sdk_home: Path, tmp_path: Path) -> None:
    # tensorboardX is in the `test` extra: this test runs everywhere, never skipped.
    import tensorboardX as tensorboardx

    task = Task.init("capture", "tb-real")
    writer = tensorboardx.SummaryWriter(logdir=str(tmp_path / "runs"))
    writer.add_scalar("loss/train", 0.5, 2)
    writer.close()
    assert scalars(task) == {"loss": {"train": {"x": [2], "y": [0.5]}}}


def test_split_tag() -> None:
    assert tensorboard.split_tag("a/b/c") == ("a/b", "c")
    assert tensorboard.split_tag("plain") == ("plain", "plain")


def test_argparse_imported_after_ductwork_is_patched_on_import(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        import sys
        from ductwork import Task
        print("preloaded", "argparse" in sys.modules)
        task = Task.init("capture", "late argparse")
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--x", type=int, default=3)
        parser.parse_args(["--x", "5"])
        print("params", task.get_parameters(cast=True))
        """
    )
    assert done.returncode == 0, done.stderr
    assert "preloaded False" in done.stdout
    assert "params {'Args/x': 5}" in done.stdout
