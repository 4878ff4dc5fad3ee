"""The demo pipeline `ductwork demo` runs: a small model search, each step its own process.

load -> split -> three trainings at once -> pick the best, with parameters, scalars, artifacts
and a cached first step. Standard library only, so it runs wherever ductwork does.
"""

from __future__ import annotations

from typing import Any

from ductwork.pipelines.decorator import PipelineDecorator

PROJECT = "ductwork pipeline demo"


@PipelineDecorator.component(return_values=["points"], cache=True, task_type="data_processing")
def load(rows: int, seed: int) -> list[list[float]]:
    import random

    rng = random.Random(seed)
    points = []
    for _ in range(rows):
        x = rng.uniform(-3, 3)
        points.append([x, 2.5 * x - 1.0 + rng.gauss(0, 0.8)])
    print(f"loaded {rows} points")
    return points


@PipelineDecorator.component(return_values=["train", "test"], task_type="data_processing")
def split(points: list[list[float]], test_share: float) -> tuple[list[list[float]], list[list[float]]]:
    cut = int(len(points) * (1 - test_share))
    return points[:cut], points[cut:]


@PipelineDecorator.component(return_values=["model"], task_type="training")
def fit(train: list[list[float]], steps: int, rate: float) -> dict[str, float]:
    from ductwork import Logger

    logger = Logger.current_logger()
    slope, bias = 0.0, 0.0
    for step in range(steps):
        grad_slope = grad_bias = 0.0
        for x, y in train:
            error = slope * x + bias - y
            grad_slope += 2 * error * x / len(train)
            grad_bias += 2 * error / len(train)
        slope -= rate * grad_slope
        bias -= rate * grad_bias
        loss = sum((slope * x + bias - y) ** 2 for x, y in train) / len(train)
        logger.report_scalar("loss", f"rate {rate}", loss, iteration=step)
    print(f"rate {rate}: slope {slope:.3f}, bias {bias:.3f}")
    return {"slope": slope, "bias": bias, "rate": rate}


@PipelineDecorator.component(return_values=["best"], task_type="qc")
def pick(models: list[dict[str, float]], test: list[list[float]]) -> dict[str, Any]:
    from ductwork import PipelineDecorator as Pipeline

    def error(model: dict[str, float]) -> float:
        return sum((model["slope"] * x + model["bias"] - y) ** 2 for x, y in test) / len(test)

    scored = sorted(models, key=error)
    best = {**scored[0], "test_mse": error(scored[0])}
    Pipeline.get_logger().report_single_value("best test mse", best["test_mse"])
    Pipeline.upload_artifact("best_model", best)
    return best


@PipelineDecorator.pipeline(name="model search", project=PROJECT, version="1.0.0")
def model_search(rows: int = 400, seed: int = 1, test_share: float = 0.25, steps: int = 40) -> Any:
    points = load(rows, seed)
    train, test = split(points, test_share)
    models = [fit(train, steps, rate) for rate in (0.01, 0.05, 0.1)]
    return pick(models, test)


def run(mode: str = "local") -> dict[str, Any]:
    """Run the demo pipeline (`local`: a process per step; `debug`: plain calls)."""
    if mode == "debug":
        PipelineDecorator.debug_pipeline()
    else:
        PipelineDecorator.run_locally()
    return dict(model_search())
