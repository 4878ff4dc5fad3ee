"""The SDK on a PostgreSQL store (`DUCTWORK_DB_URL`), the way a team server runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ductwork import OutputModel, Task, client


@pytest.mark.postgres
def test_a_task_on_postgresql(
    sdk_home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DUCTWORK_DB_URL", pg_url)
    client.use(None)
    task = Task.init("pg/project", "train")
    task.connect({"lr": 0.1, "layers": [3, 2]})
    logger = task.get_logger()
    for i in range(2000):
        logger.report_scalar("loss", "train", 1 / (i + 1), i)
    print("on postgres")
    task.upload_artifact("array", np.ones(4))
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"pg")
    OutputModel(task=task, name="pg-model").update_weights(weights)
    task.close()
    stored = Task.get_task(project_name="pg/project", task_name="train")
    assert stored.id == task.id and stored.status == "completed"
    assert stored.get_parameters(cast=True) == {"General/lr": 0.1, "General/layers": [3, 2]}
    assert stored.get_reported_scalars()["loss"]["train"]["x"] == list(range(2000))
    assert "on postgres" in stored.get_reported_console_output()
    np.testing.assert_array_equal(stored.artifacts["array"].get(), np.ones(4))
    assert stored.models["output"][0].name == "pg-model"
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            status = conn.execute(
                sa.text("SELECT status FROM tasks WHERE id = :id"), {"id": task.id}
            ).scalar()
    finally:
        engine.dispose()
    assert status == "completed"  # it really is in PostgreSQL
