"""The UI under its strict CSP and CSRF checks, in Chromium: the pipeline, run and task pages
load and their actions (fetch, htmx forms, the logout form) work, with no CSP violation.

The team server runs on a machine of its own; the run is recorded from alice's laptop."""

from __future__ import annotations

from typing import Any

import pytest
from browser_helpers import TeamServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Fan-out wide enough for the DAG to group it (the group panel sets bar styles from script).
PARENTS = {
    "load": [],
    **{f"part_{i}": ["load"] for i in range(12)},
    "report": [f"part_{i}" for i in range(12)],
}

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (ev) => {
  window.__csp.push(`${ev.violatedDirective} ${ev.blockedURI} ${ev.sourceFile}:${ev.lineNumber}`);
});
"""


def test_pages_and_actions_run_under_the_csp(page: Any, team_server: TeamServer) -> None:
    server = team_server
    server.api.ensure_queue("services")
    run = server.make_run(
        f"""
        run = make_run(backend, {PARENTS!r}, status="completed", args={{"lr": Param(0.1, "float")}})
        backend.add_events(
            [
                MetricEvent(
                    task_id=run.id, kind="scalar", title="loss", series="train", iteration=i,
                    value=1 / (i + 1),
                )
                for i in range(5)
            ]
        )
        """
    )
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.add_init_script(RECORD_VIOLATIONS)
    seen: list[str] = []

    def check(where: str) -> None:
        seen.extend(f"{where}: {v}" for v in page.evaluate("window.__csp || []"))

    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", server.server.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/pipelines")
    check("login")

    # The pipeline page: its table polls (htmx), sorts, and its row actions use fetch.
    page.goto(f"{server.url}/pipelines/{run.project_id}")
    page.wait_for_selector(f"tr[data-run='{run.id}']")
    row = page.locator(f"tr[data-run='{run.id}']")
    row.locator("summary").click()
    page.once("dialog", lambda dialog: dialog.accept("csp-ok"))
    row.locator("[data-action=tag]").click()
    page.wait_for_selector(f"tr[data-run='{run.id}'] .tag:text-is('csp-ok')")
    assert server.api.get_task(run.id).tags == ["csp-ok"]  # the fetch carried the CSRF token
    page.locator("th.sortable a").first.click()
    page.wait_for_function("() => document.querySelector('#runs-filter [name=sort]').value !== ''")
    check("pipeline page")

    # The run page: prefetched layout, DAG, info pane (htmx), a group's bars, NEW RUN (an htmx form).
    page.goto(f"{server.url}/runs/{run.id}")
    page.wait_for_function("() => window.__dag && window.__dag.ready > 0")
    page.wait_for_selector("#info .info-head")
    page.locator("#steps-list .vrow").first.wait_for()
    page.get_by_role("button", name="+ New run").click()
    page.wait_for_selector("#modal form.modal")
    page.locator("#modal button[type=submit]").click()
    page.wait_for_url(lambda url: "/runs/" in url and run.id not in url)
    check("run page")

    # The task page, its scalars tab (prefetched series, uPlot) and the account page.
    page.goto(f"{server.url}/tasks/{run.id}?tab=scalars")
    page.wait_for_selector(".charts .u-wrap canvas")
    page.goto(f"{server.url}/tasks/{run.id}?tab=console")
    page.goto(f"{server.url}/account")
    page.wait_for_selector("text=Log out everywhere")
    check("task and account pages")

    # The logout form sends its token field.
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url("**/login")
    check("logout")

    assert not seen, f"CSP violations: {seen}"
    refused = [line for line in console if "Content Security Policy" in line or "Refused to" in line]
    assert not refused, refused

    # The watch itself works: an inline script injected now is refused and reported.
    inject = "const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
    page.evaluate(f"() => {{ {inject} document.body.append(s); }}")
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
