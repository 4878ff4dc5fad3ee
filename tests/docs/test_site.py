"""The documentation site: `mkdocs build --strict` passes (a broken link, a missing page in the
nav or a docstring mkdocstrings cannot render fails it), the built pages load nothing from outside
(no web fonts, no CDN, no analytics: the site works offline and tells no third party who reads
it), the CLI reference names every command and option, the configuration page every variable
the code reads, and every image a page or the README shows is committed.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
PNG = b"\x89PNG\r\n\x1a\n"


def _text(page: Path) -> str:
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def test_every_page_is_built_and_in_the_nav(site: Path) -> None:
    built = {p.relative_to(site).with_suffix(".md").as_posix() for p in site.rglob("*.html")}
    written = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert written <= built, f"pages not built: {written - built}"
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert all(page in nav for page in written), (
        f"pages missing from the nav: {[p for p in written if p not in nav]}"
    )


# Attributes that make a browser fetch something as the page loads (a link in <a href> does not).
_FETCHED = re.compile(
    r"<(?:script|img|iframe|source|video|audio|embed|link)\b[^>]*?\b(?:src|href|srcset|data)\s*=\s*[\"']?([^\"'\s>]+)",
    re.I,
)
_CSS_URL = re.compile(r"url\(\s*[\"']?([^\"')]+)", re.I)
_IMPORT = re.compile(r"@import\s+[\"']([^\"']+)", re.I)


def _outside(url: str) -> bool:
    return bool(re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url, re.I)) and not url.startswith("data:")


def _fetched(site: Path) -> Iterator[tuple[Path, str]]:
    for page in site.rglob("*.html"):
        for url in _FETCHED.findall(page.read_text(encoding="utf-8")):
            yield page, url
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        for url in [*_CSS_URL.findall(text), *_IMPORT.findall(text)]:
            yield sheet, url


def test_the_built_site_loads_nothing_from_outside(site: Path) -> None:
    outside = sorted({f"{where.relative_to(site)}: {url}" for where, url in _fetched(site) if _outside(url)})
    assert not outside, f"the site would fetch from outside: {outside}"
    everything = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in site.rglob("*.html"))
    for third_party in ("fonts.googleapis", "fonts.gstatic", "googletagmanager", "google-analytics", "cdn."):
        assert third_party not in everything, third_party


def test_the_built_site_has_its_assets(site: Path) -> None:
    """Every local stylesheet, script and image a page names exists in the site."""
    missing = []
    for page, url in _fetched(site):
        if page.suffix != ".html" or _outside(url) or url.startswith(("data:", "#")):
            continue
        local = url.split("#")[0].split("?")[0]
        target = (site / local.lstrip("/") if local.startswith("/") else page.parent / local).resolve()
        if not target.exists():
            missing.append(f"{page.relative_to(site)}: {url}")
    assert not missing, missing


def _commands() -> Iterator[click.Context]:
    sys.path.insert(0, str(DOCS))
    try:
        from hooks import walk
    finally:
        sys.path.remove(str(DOCS))
    from ductwork.cli import main

    yield from walk(main, "ductwork")


def test_the_cli_reference_names_every_command_and_option(site: Path) -> None:
    text = " ".join(_text(site / "reference" / "cli.html").split())
    missing = []
    for ctx in _commands():
        if ctx.command_path not in text:
            missing.append(ctx.command_path)
        for param in ctx.command.get_params(ctx):
            if isinstance(param, click.Option) and not param.hidden and param.name != "help":
                missing += [f"{ctx.command_path} {opt}" for opt in param.opts if opt not in text]
    assert not missing, f"not in the built CLI reference: {missing}"
    assert "tasks list" in text and "--project" in text  # the walk itself found something


def test_the_configuration_page_names_every_variable_the_code_reads() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src" / "ductwork").rglob("*.py"))
    used = set(re.findall(r"\bDUCTWORK_[A-Z][A-Z0-9_]*[A-Z0-9]\b", source))
    page = (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")
    missing = sorted(name for name in used if f"`{name}`" not in page)
    assert not missing, f"read by the code but not on docs/reference/configuration.md: {missing}"
    assert {"DUCTWORK_HOME", "DUCTWORK_API_URL", "DUCTWORK_API_KEY"} <= used


def _images(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text) + re.findall(r"<img\b[^>]*\bsrc=[\"']([^\"']+)", text)


def test_every_image_a_page_shows_is_committed() -> None:
    """The screenshots come from tests/e2e/browser/test_browser_doc_screenshots.py; they are
    committed so the README and the site show them, and must not go missing."""
    shown = [(page, url) for page in [ROOT / "README.md", *DOCS.rglob("*.md")] for url in _images(page)]
    assert any("run-page.png" in url for _, url in shown), "the run page screenshot is shown nowhere"
    missing = []
    for page, url in shown:
        path = (page.parent / url).resolve()
        if not path.is_file() or (path.suffix == ".png" and not path.read_bytes().startswith(PNG)):
            missing.append(f"{page.relative_to(ROOT)}: {url}")
            continue
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT, capture_output=True, check=False
        )
        if tracked.returncode != 0 and (ROOT / ".git").exists():
            missing.append(f"{page.relative_to(ROOT)}: {url} (not committed)")
    assert not missing, f"images shown but missing: {missing}"


def test_readme_and_architecture_links_into_docs_resolve() -> None:
    for doc in ("README.md", "ARCHITECTURE.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        named = set(re.findall(r"\bdocs/[\w./-]+\.md\b", text)) | {
            u for u in re.findall(r"\]\(([^)#\s]+)", text) if not _outside(u)
        }
        broken = [n for n in named if not (ROOT / n).exists()]
        assert not broken, f"{doc} names docs that do not exist: {broken}"


def test_the_api_reference_documents_every_public_name(site: Path) -> None:
    """A name added to `ductwork.__all__` or `ductwork.automation.__all__` needs its API page."""
    import ductwork
    import ductwork.automation

    headings: set[str] = set()
    for page in (site / "reference" / "api").glob("*.html"):
        headings |= set(re.findall(r'<h[1-4] id="([\w.]+)"', page.read_text(encoding="utf-8")))
    public = {*ductwork.__all__, *ductwork.automation.__all__}
    missing = sorted(name for name in public if not any(h.endswith(f".{name}") for h in headings))
    assert not missing, f"public names without an entry in docs/reference/api/: {missing}"
