"""The server application, assembled from its parts.

    app = create_app()                      # $DUCTWORK_DB_URL or $DUCTWORK_HOME, auth on
    app = create_app("sqlite:///x.db", auth=False)

One `Hub` (store + doorbells + watcher) per app; routers are thin and stateless; auth is
one middleware in front of everything.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import ModuleType
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import Depends, FastAPI

import ductwork
from ductwork.core import settings
from ductwork.server.api import (
    artifacts,
    errors,
    events,
    metrics,
    models,
    projects,
    queues,
    runs,
    schedulers,
    system,
    tasks,
)
from ductwork.server.services.auth import AuthMiddleware
from ductwork.server.services.headers import SecurityHeadersMiddleware
from ductwork.server.services.hub import Hub
from ductwork.server.services.limits import checked_input
from ductwork.server.services.proxy import TrustedProxyMiddleware

if TYPE_CHECKING:
    from ductwork.store.store import Store

ROUTERS = (
    system.router,
    projects.router,
    artifacts.router,  # before tasks: its `{name:path}/content` is more specific
    tasks.router,
    models.router,
    metrics.router,
    queues.router,
    runs.router,
    schedulers.router,
    events.router,
)

# Long-poll claims and event streams wait on the event loop, not in threads; the threads run
# store calls. Enough of them for 50 concurrent clients plus agents.
THREADS = 100


def create_app(
    db_url: str | None = None,
    *,
    auth: bool = True,
    store: Store | None = None,
    artifacts_uri: str | None = None,
    allowed_storage: Sequence[str] | None = None,
) -> FastAPI:
    """The REST API, live events and (when installed) the web UI over one store.

    `store` lets a caller share an already open `ductwork.store.Store` (tests, `ductwork ui`);
    otherwise one is opened on `db_url` (default: `$DUCTWORK_DB_URL` / `$DUCTWORK_HOME`).
    Stored locations are read only under the artifact root and the `allowed_storage` prefixes
    (default: `$DUCTWORK_ALLOWED_STORAGE`).
    """
    hub = _hub(db_url, store, auth=auth, artifacts_uri=artifacts_uri, allowed_storage=allowed_storage)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(
        title="ductwork",
        version=ductwork.__version__,
        description="Pipelines, tasks, queues and agents: the REST API of a ductwork server.",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        # Every request's parameters and JSON body are checked against the stores' bounds
        # before any endpoint runs (422 naming the field).
        dependencies=[Depends(checked_input)],
    )
    app.state.hub = hub
    app.state.store = hub.store
    errors.install(app)
    _add_routes(app)
    _add_middleware(app, hub)
    return app


def _hub(
    db_url: str | None,
    store: Store | None,
    *,
    auth: bool,
    artifacts_uri: str | None,
    allowed_storage: Sequence[str] | None,
) -> Hub:
    """The server's hub over `store`, or over a store it opens (and then closes) itself."""
    owns_store = store is None
    if store is None:
        from ductwork.store import Store

        store = Store(db_url or settings.db_url())
    allowed = tuple(settings.allowed_storage() if allowed_storage is None else allowed_storage)
    return Hub(
        store=store,
        artifacts_root=artifacts_uri or settings.artifacts_uri(),
        auth=auth,
        owns_store=owns_store,
        allowed_storage=allowed,
    )


def _add_routes(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    web = _web_module()
    if web is not None:
        if hasattr(web, "mount_static"):
            web.mount_static(app)
        app.include_router(web.router)


def _add_middleware(app: FastAPI, hub: Hub) -> None:
    app.add_middleware(AuthMiddleware, store=hub.store, required=hub.auth)
    # Added last, so outermost: the headers reach auth's own refusals too, and forwarded
    # headers are settled before anything reads the client's address or origin.
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(TrustedProxyMiddleware, proxies=settings.trusted_proxies())


def _web_module() -> ModuleType | None:
    """The web UI's routes module (`router`, `mount_static`), when that part is installed."""
    try:
        module = importlib.import_module("ductwork.server.web.routes")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("ductwork.server.web"):
            return None
        raise
    return module if hasattr(module, "router") else None
