"""The plots tab in a real browser: a 3-D scatter and a surface are drawn (not dumped as JSON),
an audio sample plays from the server's route, and an HTML sample is a link that downloads."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from browser_helpers import Server

pytestmark = [pytest.mark.browser]

HTML = b"<!doctype html><script>document.title='pwned'</script>"


def wav() -> bytes:
    data = b"\x80" * 800
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_the_plots_tab_draws_3d_plots_and_plays_media(server: Server, page: Any) -> None:
    from ductwork import Task

    task = Task.init("browser", "media and 3d")
    logger = task.get_logger()
    logger.report_scatter3d("cloud", "pts", [(0, 0, 0), (1, 2, 3), (2, 1, 5)], labels=["a", "b", "c"])
    logger.report_surface("terrain", "h", [[0, 1, 2], [1, 2, 3]])
    logger.report_media("samples", "voice", stream=wav(), file_extension="wav")
    logger.report_media("samples", "page", stream=HTML, file_extension="html")
    task.close()

    page.goto(f"{server.url}/tasks/{task.id}?tab=plots")
    page.wait_for_selector(".plots audio")
    page.wait_for_load_state("networkidle")
    assert page.locator(".plots canvas").count() == 2  # the isometric cloud and the surface's heat map
    assert page.locator(".plots pre.preview").count() == 0  # no figure dumped as JSON
    # the browser decodes the sample it fetched through the server's route
    page.wait_for_function("document.querySelector('.plots audio').duration > 0")
    link = page.locator(".plots a:has-text('download page')")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".html")
    assert page.title() != "pwned"
