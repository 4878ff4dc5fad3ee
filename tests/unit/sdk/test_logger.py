"""Logger: every report kind lands as an event of the task; bad input is refused by name."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ductwork import Logger, Task
from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import MetricEvent
from ductwork.sdk.logger import SeriesInfo


@pytest.fixture
def task(sdk_home: Path) -> Task:
    return Task.init("logger", "reports")


def events(task: Task, kind: str) -> list[MetricEvent]:
    task.get_logger().flush(wait=True)
    return task._backend.get_events(EventQuery(task_id=task.id, kind=kind))


def test_scalars_are_batched_and_all_arrive(task: Task) -> None:
    logger = Logger.current_logger()
    assert logger is task.get_logger()
    for i in range(5000):
        logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
        logger.report_scalar("loss", "val", np.float32(2.0), np.int64(i))
    scalars = task.get_reported_scalars()
    assert scalars["loss"]["train"]["x"] == list(range(5000))
    assert scalars["loss"]["val"]["y"][:2] == [2.0, 2.0]
    sampled = task.get_reported_scalars(max_samples=100)
    assert len(sampled["loss"]["train"]["x"]) <= 101
    assert sampled["loss"]["train"]["x"][-1] == 4999


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, "s", 1.0, 0), "title must be a str"),
        (("t", None, 1.0, 0), "series must be a str"),
        (("t", "s", "high", 0), "value must be a number"),
        (("t", "s", None, 0), "value must be a number"),
        (("t", "s", 1.0, "first"), "iteration must be an int"),
        (("t", "s", 1.0, 1.5), "iteration must be an int"),
    ],
)
def test_report_scalar_rejects_bad_input(task: Task, args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        task.get_logger().report_scalar(*args)  # type: ignore[arg-type]


def test_single_values_and_text(task: Task, capsys: pytest.CaptureFixture[str]) -> None:
    logger = task.get_logger()
    logger.report_single_value("accuracy", 0.93)
    logger.report_text("training started")
    logger.report_text("careful", level=logging.WARNING, print_console=False)
    assert task.get_reported_single_values() == {"accuracy": 0.93}
    assert "training started" in capsys.readouterr().out
    task.flush()
    lines = [line.text for line in task._backend.get_console(task.id)]
    assert lines.count("training started") == 1
    assert "WARNING: careful" in lines


def test_tables_from_frames_rows_and_csv(task: Task, tmp_path: Path) -> None:
    logger = task.get_logger()
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}, index=pd.Index(["x", "y"], name="row"))
    logger.report_table("frame", "s", iteration=3, table_plot=frame)
    logger.report_table("rows", "s", table_plot=[["h1", "h2"], [1, "v"]])
    csv = tmp_path / "t.csv"
    csv.write_text("k,v\na,1\nb,2.5\n")
    logger.report_table("csv", "s", csv=str(csv))
    tables = {event.title: event for event in events(task, "table")}
    assert tables["frame"].iteration == 3
    assert tables["frame"].payload["columns"] == ["row", "a", "b"]
    assert tables["frame"].payload["rows"] == [["x", 1, 0.5], ["y", 2, None]]
    assert tables["rows"].payload["rows"] == [[1, "v"]]
    assert tables["csv"].payload == {
        "columns": ["k", "v"],
        "rows": [["a", 1], ["b", 2.5]],
        "extra_layout": {},
        "extra_data": {},
    }
    with pytest.raises(ValidationError, match="exactly one"):
        logger.report_table("t", "s")
    with pytest.raises(ValidationError, match="cannot read CSV"):
        logger.report_table("t", "s", csv=str(tmp_path / "absent.csv"))
    with pytest.raises(ValidationError, match="DataFrame or a list of rows"):
        logger.report_table("t", "s", table_plot=42)


def test_plots(task: Task) -> None:
    logger = task.get_logger()
    logger.report_plotly(
        "plotly", "s", {"data": [{"x": np.arange(3), "y": [1, 2, 3]}], "layout": {}}, iteration=1
    )
    logger.report_line_plot(
        "lines", [SeriesInfo("a", np.array([[0, 1], [1, 2]])), {"name": "b", "data": [(0, 3)]}], xaxis="x"
    )
    logger.report_scatter2d("scatter", "pts", [(1, 2), (3, 4)], mode="markers", labels=["p", "q"])
    logger.report_confusion_matrix("confusion", "m", np.eye(2), xlabels=["a", "b"])
    logger.report_histogram("hist", "counts", [3, 5, 1], xlabels=["a", "b", "c"])
    plots = {event.title: event.payload for event in events(task, "plot")}
    assert plots["plotly"]["data"][0]["x"] == [0, 1, 2]
    assert [t["name"] for t in plots["lines"]["data"]] == ["a", "b"]
    assert plots["lines"]["data"][0]["y"] == [1, 2]
    assert plots["scatter"]["data"][0]["text"] == ["p", "q"]
    assert plots["confusion"]["data"][0]["z"] == [[1.0, 0.0], [0.0, 1.0]]
    (histogram,) = events(task, "histogram")
    assert histogram.payload["data"][0] == {
        "type": "bar",
        "name": "counts",
        "x": ["a", "b", "c"],
        "y": [3, 5, 1],
    }
    with pytest.raises(ValidationError, match="figure must be"):
        logger.report_plotly("p", "s", [1, 2])
    with pytest.raises(ValidationError, match="pairs"):
        logger.report_scatter2d("p", "s", [1, 2, 3])
    with pytest.raises(ValidationError, match="xlabels"):
        logger.report_histogram("h", "s", [1, 2], xlabels=["only one"])


def test_images_are_stored_and_reported(task: Task, tmp_path: Path) -> None:
    logger = task.get_logger()
    path = tmp_path / "pic.png"
    Image.new("RGB", (5, 5), "blue").save(path)
    logger.report_image("img", "file", iteration=0, local_path=str(path))
    logger.report_image("img", "pil", iteration=0, image=Image.new("L", (3, 2)))
    logger.report_image("img", "array", iteration=0, matrix=np.random.rand(4, 6))
    logger.report_image("img", "url", iteration=0, url="https://example.invalid/a.png")
    found = {event.series: event.payload for event in events(task, "image")}
    assert found["url"] == {"url": "https://example.invalid/a.png"}
    from ductwork.artifacts import store_for
    from ductwork.core.records import ArtifactRecord, from_dict

    for series, size in (("file", (5, 5)), ("pil", (3, 2)), ("array", (6, 4))):
        record = from_dict(ArtifactRecord, found[series]["artifact"])
        with Image.open(store_for(None).local_copy(record)) as image:
            assert image.size == size
        assert found[series]["content_type"] == "image/png"
    with pytest.raises(ValidationError, match="exactly one"):
        logger.report_image("img", "none")
    with pytest.raises(ValidationError, match="cannot read"):
        logger.report_image("img", "gone", local_path=str(tmp_path / "absent.png"))


def test_matplotlib_figure(task: Task) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [3, 4, 5], label="line")
    axes.set_xlabel("epoch")
    task.get_logger().report_matplotlib_figure("curve", "mpl", figure, iteration=2)
    plt.close(figure)
    (image,) = events(task, "image")
    assert image.title == "curve" and image.iteration == 2
    (plot,) = events(task, "plot")
    assert plot.payload["data"][0]["y"] == [3, 4, 5]
    assert plot.payload["layout"]["xaxis"]["title"]["text"] == "epoch"
    with pytest.raises(ValidationError, match="matplotlib Figure"):
        task.get_logger().report_matplotlib_figure("x", "y", "not a figure")


def test_current_logger_without_a_task_is_a_clear_error(sdk_home: Path) -> None:
    with pytest.raises(ValidationError, match="no current task"):
        Logger.current_logger()


def test_a_write_error_is_reported_and_raised_by_flush(
    task: Task, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUCTWORK_RETRY_WINDOW", "0.2")  # an OSError is retried for the window
    logger = task.get_logger()
    original = task._channels.events._send
    task._channels.events._send = lambda batch: (_ for _ in ()).throw(OSError("disk gone"))  # type: ignore[assignment]
    try:
        logger.report_scalar("t", "s", 1.0, 0)
        with pytest.raises(Exception, match="could not write 1 metric"):
            logger.flush(wait=True)
    finally:
        task._channels.events._send = original  # type: ignore[method-assign]
    assert "disk gone" in capfd.readouterr().err


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collection_is_left_as_it_was_after_a_large_batch(task: Task, enabled: bool) -> None:
    import gc
    import threading

    seen: list[tuple[int, bool]] = []  # (records in the batch, collection enabled while written)
    reported = threading.Event()
    backend = task._channels.backend
    # the embedded store takes scalars as rows (add_event_rows), a server as events
    method = "add_event_rows" if hasattr(type(backend), "add_event_rows") else "add_events"
    original = getattr(backend, method)

    def add_events(events: list[MetricEvent]) -> None:
        # On a busy machine the first batch leaves before the loop ends: hold it, so the rest
        # gather into one large batch whatever the machine's speed.
        reported.wait(60)
        seen.append((len(events), gc.isenabled()))
        original(events)

    (gc.enable if enabled else gc.disable)()
    setattr(backend, method, add_events)
    try:
        logger = task.get_logger()
        for i in range(5000):
            logger.report_scalar("loss", "train", 0.1, i)
        reported.set()
        logger.flush(wait=True)
        large = [state for size, state in seen if size >= 2000]
        assert large and not any(large), seen  # paused while a large batch was written
        assert all(state is enabled for size, state in seen if size < 2000), seen  # small: untouched
        assert gc.isenabled() is enabled
    finally:
        setattr(backend, method, original)
        gc.enable()
    assert len(task.get_reported_scalars()["loss"]["train"]["x"]) == 5000


def test_reports_are_written_at_exit_without_task_init(run_script) -> None:  # type: ignore[no-untyped-def]
    done = run_script(
        """
        from ductwork import Task
        task = Task.create(project_name="exit", task_name="no init")
        task.mark_started()
        for i in range(100):
            task.get_logger().report_scalar("loss", "train", i, i)
        print(task.id)
        """
    )
    assert done.returncode == 0, done.stderr
    task = Task.get_task(done.stdout.split()[-1])
    assert task.get_reported_scalars()["loss"]["train"]["x"] == list(range(100))
