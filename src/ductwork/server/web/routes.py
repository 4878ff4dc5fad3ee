"""The web UI's routes: pages, the partials htmx swaps in, and the JSON feeds its scripts read.

Pages are rendered on the server from the read models in `services.views`; htmx swaps partials
(runs table, info panels, the NEW RUN modal), and ES modules draw what HTML cannot do fast: the
DAG canvas, the virtualised console and the uPlot charts. The app that includes this router
keeps its `Hub` (store + doorbells) on `app.state.hub`; its auth middleware guards every path
but `/login` and `/static`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ductwork.core import runformat
from ductwork.core.errors import DuctworkError, NotFound, ValidationError
from ductwork.server.services import auth, layout, permissions, runs, views
from ductwork.server.services.byteranges import Asked
from ductwork.server.services.hub import Hub
from ductwork.server.services.proxy import client_address
from ductwork.server.web import files, forms, pages, previews
from ductwork.server.web.pages import PageRoute, page

if TYPE_CHECKING:
    from ductwork.store.accounts import User as Account

HERE = Path(__file__).parent
static_files = StaticFiles(directory=HERE / "static")


router = APIRouter(include_in_schema=False, route_class=PageRoute)


def mount_static(app: FastAPI) -> None:
    """Serve `static/` at `/static` as a mount (the router also serves it, for apps that skip this)."""
    app.mount("/static", static_files, name="static")


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_store(request: Request) -> views.Reader:
    return get_hub(request).store


async def _hub_dependency(request: Request) -> Hub:
    return get_hub(request)  # async: no thread hop per request (a plain def runs in the pool)


async def _store_dependency(request: Request) -> views.Reader:
    return get_store(request)


Store = Annotated[views.Reader, Depends(_store_dependency)]
HubDep = Annotated[Hub, Depends(_hub_dependency)]


def user_name(request: Request) -> str:
    return str(getattr(getattr(request.state, "user", None), "name", "") or "")


@router.get("/static/{path:path}")
async def static(request: Request, path: str) -> Response:
    """Our CSS/JS and the pinned vendor files (path checks, ETags and ranges by StaticFiles)."""
    return await static_files.get_response(path, request.scope)


# --- pipelines and runs -------------------------------------------------------------------------------


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/pipelines", status_code=303)


@router.get("/pipelines")
def pipelines_page(request: Request, store: Store, q: str = "") -> HTMLResponse:
    pipelines = views.list_pipelines(store, search=q)
    name = "pipelines_list.html" if request.headers.get("HX-Request") else "pipelines.html"
    return page(request, name, pipelines=pipelines, q=q, nav="pipelines")


@router.get("/pipelines/{project_id}")
def pipeline_page(
    request: Request,
    store: Store,
    project_id: str,
    sort: str = "started",
    desc: bool = True,
    status: str = "",
    q: str = "",
    archived: bool = False,
) -> HTMLResponse:
    table = views.runs_table(
        store, project_id, sort=sort, descending=desc, status=status, search=q, archived=archived
    )
    name = "runs_table.html" if request.headers.get("HX-Request") else "pipeline.html"
    return page(request, name, table=table, archived=archived, nav="pipelines")


@router.get("/compare")
def compare_page(request: Request, store: Store, ids: Annotated[list[str], Query()]) -> HTMLResponse:
    comparison = views.compare(store, ids)
    charts = [
        {
            "title": title,
            "series": [
                {"name": label, "x": s.iterations, "t": s.times, "y": s.values, "points": s.points}
                for label, s in series
            ],
        }
        for title, series in comparison.charts
    ]
    return page(request, "compare.html", comparison=comparison, charts=charts, nav="pipelines")


@router.get("/runs/{run_id}")
def run_page(request: Request, hub: HubDep, run_id: str) -> Response:
    run = views.run_view(hub.store, run_id)
    if not runformat.is_run(run.task):
        return RedirectResponse(f"/tasks/{run_id}", status_code=303)  # a plain task has no DAG
    warning = ""
    if run.status == "pending" and run.task.queue and not runs.listening(hub, run.task.queue):
        warning = f"No agent is listening on queue {run.task.queue!r}: start one with"
    return page(request, "run.html", run=run, warning=warning, nav="pipelines")


MAX_EXPANDED = 200  # groups one layout request may open


@router.get("/runs/{run_id}/layout.json")
def run_layout(
    store: Store, run_id: str, grouped: bool = True, expand: Annotated[list[str] | None, Query()] = None
) -> Response:
    """The DAG's boxes and edges (cached per DAG shape) plus the live state of every step;
    `expand=group:<first member>` (repeated) draws those groups step by step."""
    with layout.collector_paused():
        steps = views.pipeline_steps(store, store.get_task(run_id))
        dag = layout.layout_dag(
            {name: step.parents for name, step in steps.items()},
            group_min=layout.GROUP_MIN if grouped else 0,
            expanded=[key for key in (expand or [])[:MAX_EXPANDED] if len(key) <= 1000],
        )
        body = dag.to_json()
        body["states"] = views.node_states_payload(steps)
        stages = {name: step.stage for name, step in steps.items() if step.stage}
        if stages:
            body["stages"] = stages
        return _json(body)


@router.get("/runs/{run_id}/states.json")
def run_states(store: Store, run_id: str) -> Response:
    with layout.collector_paused(), views.one_read(store):
        task = store.get_task(run_id)
        body = views.node_states_payload(views.pipeline_steps(store, task))
        body["run_status"] = views.run_status(task)
        return _json(body)


def _json(body: Any) -> Response:
    """Compact JSON: a 10,000-step feed is a third smaller without the default separators' spaces."""
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@router.get("/runs/{run_id}/info")
def run_info(request: Request, store: Store, run_id: str) -> HTMLResponse:
    run = views.run_view(store, run_id)
    task = views.task_view(store, run_id)
    return page(request, "run_info.html", run=run, view=task)


@router.get("/runs/{run_id}/steps/{name}")
def step_info(request: Request, store: Store, run_id: str, name: str) -> HTMLResponse:
    run_task = store.get_task(run_id)
    steps = views.pipeline_steps(store, run_task)
    step = steps.get(name)
    if step is None:
        raise NotFound(f"run {run_id} has no step {name!r}")
    view = views.task_view(store, step.task_id) if step.task_id else None
    code = views.step_code(store, run_task, view.task) if view else ""
    shown = views.shown_params(store, view.params, {n: s.task_id for n, s in steps.items()}) if view else {}
    return page(request, "step_info.html", run=run_task, step=step, view=view, code=code, shown=shown)


@router.get("/runs/{run_id}/new")
def new_run_form(request: Request, hub: HubDep, run_id: str) -> HTMLResponse:
    permissions.require(getattr(request.state, "user", None), "new run", noun="runs")
    form = forms.new_run_form(hub.store, run_id)
    return page(request, "new_run.html", form=form, errors={}, idle=_idle_queues(hub, form))


def _idle_queues(hub: Hub, form: forms.NewRunForm) -> set[str]:
    """Queues no live agent serves: a run sent there waits, and the form says so beforehand."""
    return {q for q in form.queues if not runs.listening(hub, q)}


@router.post("/runs/{run_id}/new")
async def new_run_submit(request: Request, run_id: str) -> Response:
    submitted = await request.form()
    return await run_in_threadpool(_start_new_run, request, run_id, {k: str(v) for k, v in submitted.items()})


def _start_new_run(request: Request, run_id: str, submitted: dict[str, str]) -> Response:
    """Check every field against its argument's type; start the run only when all are good."""
    hub = get_hub(request)
    caller = getattr(request.state, "user", None)
    form = forms.new_run_form(hub.store, run_id)
    refused = permissions.refusal(caller, "new run", noun="runs")
    if refused is not None:
        # The form again with the reason, as 403: htmx shows it in the modal, a script reads 403.
        errors = {"": refused}
        return page(
            request, "new_run.html", status_code=403, form=form, errors=errors, values=submitted, idle=set()
        )
    args, queue, errors = forms.parse_new_run(form, submitted)
    idle = _idle_queues(hub, form)
    if errors:
        return page(
            request, "new_run.html", status_code=422, form=form, errors=errors, values=submitted, idle=idle
        )
    try:
        started = runs.new_run(hub, run_id, args, queue=queue, user=user_name(request))
    except DuctworkError as exc:
        errors = {"": str(exc)}
        return page(
            request, "new_run.html", status_code=422, form=form, errors=errors, values=submitted, idle=idle
        )
    return Response(status_code=204, headers={"HX-Redirect": f"/runs/{started.id}"})


# --- any task -----------------------------------------------------------------------------------------


@router.get("/tasks")
def tasks_page(
    request: Request, store: Store, project: str = "", status: str = "", q: str = ""
) -> HTMLResponse:
    table = views.tasks_table(store, project=project, status=status, search=q)
    name = "tasks_table.html" if request.headers.get("HX-Request") else "tasks.html"
    return page(request, name, table=table, nav="tasks")


TASK_TABS = ("execution", "configuration", "artifacts", "console", "scalars", "plots", "info")


@router.get("/tasks/{task_id}")
def task_page(request: Request, store: Store, task_id: str, tab: str = "execution") -> HTMLResponse:
    view = views.task_view(store, task_id)
    tab = tab if tab in TASK_TABS else "execution"
    parent = None
    if view.task.parent:
        try:
            parent = store.get_task(view.task.parent)
        except NotFound:
            parent = None  # deleted meanwhile: the page still shows the task
    shown = views.shown_params(store, view.params, views.run_steps(store, view.task.parent))
    run_charts = parent is not None and runformat.is_run(parent)  # a step: its run's scalars beside
    return page(
        request,
        "task.html",
        view=view,
        tab=tab,
        tabs=TASK_TABS,
        parent=parent,
        shown=shown,
        shown_run_charts=run_charts,
        nav="tasks",
    )


@router.get("/tasks/{task_id}/console.json")
def console_json(store: Store, task_id: str, after: int = 0, limit: int = 5000) -> JSONResponse:
    lines = views.console_page(store, task_id, after=after, limit=min(max(limit, 1), 20000))
    task = store.get_task(task_id)
    return JSONResponse(
        {
            "lines": [[line.seq, line.stream, line.ts, line.text] for line in lines],
            "final": task.status in ("completed", "failed", "stopped", "published"),
            "live": task.status in ("queued", "in_progress"),
        }
    )


@router.get("/tasks/{task_id}/console.txt")
def console_download(store: Store, task_id: str) -> PlainTextResponse:
    text = "".join(
        line.text if line.text.endswith("\n") else line.text + "\n" for line in store.get_console(task_id)
    )
    return PlainTextResponse(text, headers={"Content-Disposition": f'attachment; filename="{task_id}.log"'})


@router.get("/tasks/{task_id}/scalars.json")
def scalars_json(store: Store, task_id: str, max_points: int = views.MAX_POINTS) -> Response:
    with layout.collector_paused():
        charts = views.scalar_charts(store, task_id, max_points=min(max(max_points, 10), 20000))
    return _json(
        [
            {
                "title": chart.title,
                "series": [
                    {"name": s.name, "x": s.iterations, "t": s.times, "y": s.values, "points": s.points}
                    for s in chart.series
                ],
            }
            for chart in charts
        ]
    )


@router.get("/tasks/{task_id}/plots.json")
def plots_json(store: Store, task_id: str) -> JSONResponse:
    return JSONResponse([files.plot_item(task_id, plot) for plot in views.plots(store, task_id)])


@router.get("/tasks/{task_id}/artifact-preview/{name:path}")
def artifact_preview(request: Request, hub: HubDep, task_id: str, name: str) -> Response:
    """A preview read from the stored file; 204 (keep the stored text) when there is nothing better."""
    _, preview = previews.artifact_preview(hub, task_id, name)
    if preview.kind in ("none", "image"):
        return Response(status_code=204)
    return page(request, "artifact_preview.html", preview=preview)


@router.get("/tasks/{task_id}/artifacts/{name:path}")
def artifact_download(
    request: Request, hub: HubDep, task_id: str, name: str, inline: bool = False
) -> Response:
    asked = Asked.of(request.headers)  # a malformed Range: 400 before the file is opened
    return files.artifact_response(hub, task_id, name, asked, inline=inline)


@router.get("/tasks/{task_id}/images/{index}")
def image_event(request: Request, hub: HubDep, task_id: str, index: int) -> Response:
    return files.image_event_response(hub, task_id, index, Asked.of(request.headers))


# --- queues and workers -------------------------------------------------------------------------------


@router.get("/queues")
def queues_page(request: Request, store: Store) -> HTMLResponse:
    queues, workers = views.queues_view(store)
    name = "queues_body.html" if request.headers.get("HX-Request") else "queues.html"
    return page(request, name, queues=queues, workers=workers, nav="queues")


# --- schedulers ---------------------------------------------------------------------------------------


@router.get("/schedulers")
def schedulers_page(request: Request, store: Store) -> HTMLResponse:
    found = views.schedulers_view(store)
    name = "schedulers_body.html" if request.headers.get("HX-Request") else "schedulers.html"
    return page(request, name, schedulers=found, nav="schedulers")


# --- login --------------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return page(request, "login.html", next=_safe_next(next), error="")


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    store = get_hub(request).store
    try:
        user = auth.authenticate_password(store, username.strip(), password, client_address(request.scope))
    except auth.TooManyAttempts as exc:
        return _wait_page(request, exc, "login.html", next=_safe_next(next))
    if user is None:
        error = "Wrong user name or password."
        return page(request, "login.html", status_code=401, next=_safe_next(next), error=error)
    # A session this browser still held ends: one browser, one session (and no fixation).
    auth.end_session(store, request.cookies.get(auth.SESSION_COOKIE, ""))
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(request, response, auth.new_session(store, user.name))
    return response


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    # Strict: not even a link from another site carries the session (two ports of one host are
    # one site, so Lax let them post with it). No max_age: the server ends sessions itself.
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _wait_page(request: Request, exc: auth.TooManyAttempts, name: str, **context: Any) -> HTMLResponse:
    """429 with Retry-After, and the form saying when to try again."""
    at = pages.when(time.time() + exc.retry_after)
    error = f"Too many failed attempts. Try again in {exc.retry_after} seconds (at {at})."
    response = page(request, name, status_code=429, error=error, **context)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End the session this cookie proves (the auth middleware verified it); nothing else."""
    token = request.cookies.get(auth.SESSION_COOKIE, "")
    auth.end_session(get_hub(request).store, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.post("/logout/everywhere")
def logout_everywhere(request: Request) -> RedirectResponse:
    """End every web session of the signed-in user (other browsers too); API keys stay."""
    user = _signed_in(request)
    auth.end_all_sessions(get_hub(request).store, user.name)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


# --- the signed-in user's account ---------------------------------------------------------------------


@router.get("/account")
def account_page(request: Request) -> HTMLResponse:
    return page(request, "account.html", errors={}, done=False)


@router.post("/account/password")
def change_password(
    request: Request,
    current: Annotated[str, Form()],
    new: Annotated[str, Form()],
    confirm: Annotated[str, Form()],
) -> Response:
    """A new password, after the current one is proved (counted like a login); every session of
    the user ends, this one included, so a stolen session cannot outlive the change."""
    user = _signed_in(request)
    store = get_hub(request).store
    errors: dict[str, str] = {}
    if len(new) < auth.MIN_PASSWORD or len(new) > auth.MAX_PASSWORD:
        errors["new"] = f"A password needs {auth.MIN_PASSWORD} to {auth.MAX_PASSWORD} characters."
    elif new != confirm:
        errors["confirm"] = "The two new passwords differ."
    if not errors:
        try:
            proved = auth.authenticate_password(store, user.name, current, client_address(request.scope))
        except auth.TooManyAttempts as exc:
            return _wait_page(request, exc, "account.html", errors={}, done=False)
        if proved is None:
            errors["current"] = "That is not your current password."
    if errors:
        return page(request, "account.html", status_code=422, errors=errors, done=False)
    auth.change_password(store, user.name, new)
    response = page(request, "account.html", errors={}, done=True, signed_in=False)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def _signed_in(request: Request) -> Account:
    """The user of a login session; `ductwork ui` (no logins) has no account to change."""
    user: Account | auth.LocalUser | None = getattr(request.state, "user", None)
    if user is None or isinstance(user, auth.LocalUser):
        raise ValidationError("this server runs without logins (`ductwork ui`): no account to change")
    return user


def _safe_next(target: str) -> str:
    """Only same-site paths: a login link must never bounce the user to another host."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
