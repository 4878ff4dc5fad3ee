"""Finding 8 (headers): every page and API answer carries a strict CSP, X-Frame-Options,
X-Content-Type-Options and a Referrer-Policy; the templates hold nothing the CSP would block."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from attack import ROOT, ServerProcess

TEMPLATES = ROOT / "src" / "ductwork" / "server" / "web" / "templates"
SCRIPTS = ROOT / "src" / "ductwork" / "server" / "web" / "static" / "js"


def directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            found[words[0]] = words[1:]
    return found


def assert_secured(answer: httpx.Response) -> None:
    where = f"{answer.request.method} {answer.request.url.path} -> {answer.status_code}"
    assert answer.headers.get("x-frame-options") == "DENY", where
    assert answer.headers.get("x-content-type-options") == "nosniff", where
    assert answer.headers.get("referrer-policy") == "same-origin", where
    policy = directives(answer.headers.get("content-security-policy", ""))
    assert policy.get("frame-ancestors") == ["'none'"], where
    assert policy.get("object-src") == ["'none'"], where
    assert policy.get("base-uri") == ["'none'"], where
    if answer.request.url.path != "/api/docs":
        assert policy.get("script-src") == ["'self'"], where
        assert policy.get("style-src") == ["'self'"], where
        assert policy.get("form-action") == ["'self'"], where


def test_every_kind_of_answer_carries_the_headers(server: ServerProcess, task_of: object) -> None:
    browser = server.login("alice", server.alice.password)
    task = task_of(server.alice)  # type: ignore[operator]
    pages = [
        "/pipelines",
        "/tasks",
        "/queues",
        "/account",
        f"/tasks/{task['id']}",
        f"/tasks/{task['id']}?tab=scalars",
        "/runs/0123456789abcdef0123456789abcdef",  # a 404 page
        f"/tasks/{task['id']}/console.json",
        "/static/js/run.js",
        "/static/css/app.css",
    ]
    for path in pages:
        assert_secured(browser.get(path))
    with server.client(server.alice.key) as api:
        for path in (
            "/api/queues",
            "/api/whoami",
            f"/api/tasks/{task['id']}",
            "/api/tasks/nope",
            "/api/docs",
        ):
            assert_secured(api.get(path))
        assert_secured(api.patch(f"/api/tasks/{task['id']}", json={"tags": ["x"]}))
    with httpx.Client(base_url=server.url) as anonymous:
        assert_secured(anonymous.get("/login"))
        assert_secured(anonymous.get("/api/health"))
        assert_secured(anonymous.get("/api/queues"))  # 401
        assert_secured(anonymous.get("/pipelines", headers={"Accept": "text/html"}))  # 303 to login
        assert_secured(anonymous.post("/login", data={"username": "x", "password": "y"}))  # 403: no origin
    refused = browser.post(f"/api/tasks/{task['id']}/abort", headers={"Origin": "http://127.0.0.1:1"})
    assert refused.status_code == 403
    assert_secured(refused)


def test_templates_hold_no_inline_script_handler_style_or_eval() -> None:
    """What the CSP would refuse (or what needs htmx's eval) is not in any template or script."""
    for template in sorted(TEMPLATES.glob("*.html")):
        text = re.sub(r"\{#.*?#\}", "", template.read_text(), flags=re.S)  # not Jinja's comments
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), template.name  # onclick= and the like
        assert not re.search(r"\sstyle\s*=", text), template.name
        assert "<style" not in text, template.name
        assert not re.search(r"\shx-on[:-]", text), template.name
        assert not re.search(r"=\s*[\"']\s*(js|javascript):", text), template.name
        for trigger in re.findall(r'hx-trigger="([^"]*)"', text):
            # A filter (`click[ctrlKey]`, `every 5s [cond]`) is eval; a `from:` selector is not.
            assert "[" not in re.sub(r"from:\S+", "", trigger), (template.name, trigger)
    for script in sorted(SCRIPTS.glob("*.js")):
        text = script.read_text()
        assert "style=" not in text, script.name  # markup styles; the CSSOM (el.style.x) is fine
        assert "eval(" not in text and "new Function" not in text, script.name


def test_htmx_runs_without_eval_and_injected_styles() -> None:
    base = (TEMPLATES / "base.html").read_text()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", base)
    assert config is not None
    assert '"allowEval": false' in config.group(1)
    assert '"includeIndicatorStyles": false' in config.group(1)
    assert ".htmx-indicator" in (Path(SCRIPTS.parent) / "css" / "app.css").read_text()
