"""A PipelineController built from functions: load, clean, two summaries in parallel, report.

python examples/function_pipeline.py [local|debug|remote]
"""

import sys

from ductwork import PipelineController


def load(rows: int):
    import random

    rng = random.Random(rows)
    return [{"id": i, "value": rng.gauss(10, 3) if i % 17 else None} for i in range(rows)]


def clean(records, fill: float):
    cleaned = [dict(r, value=fill if r["value"] is None else r["value"]) for r in records]
    print(f"filled {sum(r['value'] is None for r in records)} missing values")
    return cleaned


def mean(records):
    return sum(r["value"] for r in records) / len(records)


def spread(records):
    values = sorted(r["value"] for r in records)
    return values[-1] - values[0]


def report(mean_value, spread_value, title: str):
    from ductwork import Logger

    Logger.current_logger().report_single_value("mean", mean_value)
    Logger.current_logger().report_single_value("spread", spread_value)
    return f"{title}: mean {mean_value:.2f}, spread {spread_value:.2f}"


def build(rows: int = 200) -> PipelineController:
    pipe = PipelineController(name="summaries", project="examples", version="1.0.0")
    pipe.add_parameter("rows", rows, description="how many records to load")
    pipe.add_parameter("fill", 10.0, description="value for missing entries")
    pipe.set_default_execution_queue("default")
    pipe.add_function_step(
        "load",
        load,
        function_kwargs={"rows": "${pipeline.rows}"},
        function_return=["records"],
        cache_executed_step=True,
    )
    pipe.add_function_step(
        "clean",
        clean,
        function_kwargs={"records": "${load.records}", "fill": "${pipeline.fill}"},
        function_return=["records"],
    )
    pipe.add_function_step(
        "mean", mean, function_kwargs={"records": "${clean.records}"}, function_return=["value"]
    )
    pipe.add_function_step(
        "spread", spread, function_kwargs={"records": "${clean.records}"}, function_return=["value"]
    )
    pipe.add_function_step(
        "report",
        report,
        function_return=["text"],
        function_kwargs={
            "mean_value": "${mean.value}",
            "spread_value": "${spread.value}",
            "title": "${pipeline.rows} records",
        },
        monitor_metrics=[("mean", "mean")],
    )
    return pipe


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "local"
    pipe = build()
    if mode == "remote":
        pipe.start(queue="services")
    else:
        pipe.start_locally(run_pipeline_steps_locally=True, in_process=mode == "debug")
        print("succeeded" if pipe.is_successful() else "failed", pipe.id)
