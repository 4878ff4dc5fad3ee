"""The built documentation in real Chromium, served from loopback as the README says
(`python3 -m http.server -d site`): every page loads, runs its scripts without an error, search
works, and the browser asks for nothing but the site's own files (no fonts, CDN or analytics)."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"  # Debian's; never a downloaded build (tests/e2e/browser/conftest.py)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_every_page_loads_only_its_own_files(chromium: Any, site: Path, served: str) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 15, pages
    try:
        for built in pages:
            page.goto(f"{served}/{built.relative_to(site).as_posix()}")
            page.wait_for_load_state("load")
            assert page.locator("article h1").count() >= 1 or built.name == "404.html", built
        # The search index is loaded on demand: type into the search box once.
        page.goto(f"{served}/index.html")
        page.keyboard.press("/")
        page.keyboard.type("add_function_step")
        page.locator(".md-search-result__item").first.wait_for(timeout=20_000)
        assert "add_function_step" in page.locator(".md-search-result").inner_text()
    finally:
        context.close()
    outside = sorted({url for url in requested if not url.startswith((served + "/", "data:", "blob:"))})
    assert not outside, f"the site asked for outside URLs: {outside}"
    assert not errors, f"JavaScript errors: {errors}"
