"""The UI shows and serves the outputs of a pipeline that ran on separate machines.

A fully remote PipelineController (tests/e2e/many_machines/) runs on a cluster of machines
(tests/machine_runs.py): its controller on a `services` agent, its steps on agents `alpha` and
`beta`. Its owner then logs in with Chromium and, from the server alone, sees each step's
artifact previews (a numpy array's facts and values, a dict's JSON) and downloads the files,
byte for byte what the steps stored: once with the server's default storage in its home, once
in an S3 bucket (the server holds the credentials; the browser reaches the bucket only
through it).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from machine_runs import Cluster, expected_outputs, start_cluster
from machines import open_machines
from s3server import s3_server  # noqa: F401 (the fixture the S3 cluster uses)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COUNT = 6


@dataclass
class FinishedRun:
    cluster: Cluster
    run_id: str
    steps: dict[str, Any]

    def artifact(self, step: str, name: str) -> Any:
        """The artifact record as the server's API answers it (its size and sha256)."""
        records = self.cluster.server.api.get_artifacts(self.steps[step].id)
        return next(record for record in records if record.name == name)


@pytest.fixture(scope="module", params=["home", "s3"])
def finished(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FinishedRun]:
    """A fully remote function pipeline, completed on a cluster of its own per storage."""
    with open_machines(request, tmp_path_factory) as machines:
        s3 = request.getfixturevalue("s3_server") if request.param == "s3" else None
        cluster = start_cluster(machines, s3=s3)
        run = cluster.run("function", "remote", COUNT)
        assert run.status == "completed", cluster.explain(run.id)
        yield FinishedRun(cluster, run.id, cluster.server.steps(run.id))


def log_in(page: Any, finished: FinishedRun) -> str:
    server = finished.cluster.server
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", server.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return server.url


def download(page: Any, card: Any) -> bytes:
    """Click the card's Download link; the bytes the browser saved."""
    with page.expect_download() as caught:
        card.get_by_role("link", name="Download").click()
    return Path(caught.value.path()).read_bytes()


def artifact_card(page: Any, scope: str, name: str) -> Any:
    return page.locator(f"{scope} li.artifact").filter(
        has=page.locator(f".artifact-head .strong:text-is('{name}')")
    )


def test_a_steps_array_preview_and_download_from_the_run_page(page: Any, finished: FinishedRun) -> None:
    import numpy as np

    url = log_in(page, finished)
    squares, _ = expected_outputs(COUNT, "function remote")
    page.goto(f"{url}/runs/{finished.run_id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    page.locator("#steps-list .vrow:has-text('square')").click()
    page.wait_for_selector("#info h2:text-is('square')")

    card = artifact_card(page, "#info", "squares")
    # The preview read from the stored file (on the server's disk or through it from S3).
    card.locator("pre.preview-array").wait_for()
    facts = dict(
        zip(
            card.locator(".preview-facts th").all_inner_texts(),
            card.locator(".preview-facts td").all_inner_texts(),
            strict=True,
        )
    )
    assert facts["shape"] == f"({COUNT},)" and facts["dtype"] == "float64"
    assert (facts["min"], facts["max"]) == ("9", "64")
    text = card.locator("pre.preview-array").inner_text()
    assert [float(v) for v in text.strip("[]").split(",")] == squares

    saved = download(page, card)
    expected = io.BytesIO()
    np.save(expected, np.array(squares), allow_pickle=False)
    assert saved == expected.getvalue()
    assert hashlib.sha256(saved).hexdigest() == finished.artifact("square", "squares").hash


def test_a_steps_dict_preview_and_download_from_its_task_page(page: Any, finished: FinishedRun) -> None:
    url = log_in(page, finished)
    _, summary = expected_outputs(COUNT, "function remote")
    step = finished.steps["summarize"]
    page.goto(f"{url}/tasks/{step.id}?tab=artifacts")

    card = artifact_card(page, "main", "summary")
    preview = card.locator("pre.preview")
    preview.first.wait_for()
    assert json.loads(preview.first.inner_text()) == summary

    saved = download(page, card)
    assert json.loads(saved) == summary
    record = finished.artifact("summarize", "summary")
    if record.hash:  # a stored file (not a value inline in the store): the same bytes
        assert hashlib.sha256(saved).hexdigest() == record.hash
