"""Rendering pages: the Jinja2 environment, its filters, and failures shown as pages.

A browser that follows a link to a run that no longer exists should see a page saying so, while
the scripts of the same UI (asking for JSON) get the API's JSON error: `PageRoute` decides by
the request's `Accept` header.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from ductwork.core import launch
from ductwork.core.display import STATUS_WORDS, status_word
from ductwork.core.errors import Conflict, DuctworkError, Forbidden, NotFound, StatusError, ValidationError
from ductwork.core.records import TaskRecord
from ductwork.core.states import TaskStatus
from ductwork.server.services import auth, permissions, views

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

ERROR_STATUS: dict[type[DuctworkError], tuple[int, str]] = {
    NotFound: (404, "Not found"),
    Forbidden: (403, "Not allowed"),
    ValidationError: (422, "Invalid request"),
    StatusError: (409, "Not possible now"),
    Conflict: (409, "Changed meanwhile"),
}


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Template `name` rendered with `context` and the signed-in user."""
    user = getattr(request.state, "user", None)
    context.setdefault("user", user)
    # `ductwork ui` runs without logins: there is no session to end.
    context.setdefault("signed_in", user is not None and not isinstance(user, auth.LocalUser))
    # Derived from the session cookie by the auth middleware; forms and scripts send it back.
    context.setdefault("csrf_token", getattr(request.state, "csrf_token", ""))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


class PageRoute(APIRoute):
    """A route whose expected failures reach a browser as a page, and reach scripts as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except DuctworkError as exc:
                if "text/html" not in request.headers.get("accept", ""):
                    raise  # the app's JSON error handler answers
                status, title = next(
                    (v for k, v in ERROR_STATUS.items() if isinstance(exc, k)), (500, "Something went wrong")
                )
                return page(request, "error.html", status_code=status, title=title, message=str(exc))

        return guarded


# --- filters: how times, durations, sizes and metric values read --------------------------------------


def ago(ts: float | None) -> str:
    if not ts:
        return "never"
    seconds = max(0.0, time.time() - ts)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def when(ts: float | None) -> str:
    """A moment in the server's local time zone (the one its users are usually in)."""
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def elapsed(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def metric(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


templates.env.filters.update(ago=ago, when=when, elapsed=elapsed, size=size, metric=metric)


def may(user: permissions.User, action: str, task: TaskRecord | None = None) -> bool:
    """Whether the page shows an action's button: `may(user, "abort", run.task)`."""
    target = permissions.task(task) if task is not None else None
    return permissions.allowed(user, action, target)


def rerun_refusal(task: TaskRecord) -> str:
    """Why NEW RUN cannot rebuild this run ("" when it can): its button says so, disabled."""
    return launch.rerun_refusal(task.script)


templates.env.globals.update(may=may, rerun_refusal=rerun_refusal)
templates.env.globals.update(
    display=views.display_value,
    duration=views.duration,
    run_statuses=views.RUN_STATUSES,
    status_word=status_word,
    status_words=STATUS_WORDS,
    node_statuses=views.NODE_STATUSES,
    task_statuses=[str(s) for s in TaskStatus],
)
