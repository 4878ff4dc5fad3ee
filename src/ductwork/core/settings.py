"""Where things live, from the environment. Read on each call so tests can change it."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """`$DUCTWORK_HOME`, default `~/.ductwork`."""
    return Path(os.environ.get("DUCTWORK_HOME") or Path.home() / ".ductwork").expanduser()


def db_url() -> str:
    """`$DUCTWORK_DB_URL`, default SQLite at `$DUCTWORK_HOME/ductwork.db`."""
    return os.environ.get("DUCTWORK_DB_URL") or f"sqlite:///{home() / 'ductwork.db'}"


def artifacts_uri() -> str:
    """Default artifact storage: `$DUCTWORK_ARTIFACTS_URI` or `$DUCTWORK_HOME/artifacts`."""
    return os.environ.get("DUCTWORK_ARTIFACTS_URI") or str(home() / "artifacts")


def api_url() -> str | None:
    return os.environ.get("DUCTWORK_API_URL") or None


def api_key() -> str | None:
    return os.environ.get("DUCTWORK_API_KEY") or None


def task_id() -> str | None:
    """Set by an agent or a local-mode controller for the task a process runs."""
    return os.environ.get("DUCTWORK_TASK_ID") or None


def pipe_address() -> str | None:
    """Set for a local-mode step: the controller's socket it reports over."""
    return os.environ.get("DUCTWORK_PIPE") or None


DEFAULT_RETRY_WINDOW_S = 300.0


def retry_window() -> float:
    """`$DUCTWORK_RETRY_WINDOW` seconds (default 300): how long a client keeps retrying while
    its server or store is unreachable (a restart) before the call fails. 0 = no retries."""
    raw = os.environ.get("DUCTWORK_RETRY_WINDOW", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_RETRY_WINDOW_S
    except ValueError:
        return DEFAULT_RETRY_WINDOW_S
