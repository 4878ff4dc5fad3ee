"""Where things live, from the environment. Read on each call so tests can change it."""

from __future__ import annotations

import functools
import os
from pathlib import Path


def home() -> Path:
    """`$DUCTWORK_HOME`, default `~/.ductwork`."""
    return _home(os.environ.get("DUCTWORK_HOME"), os.environ.get("HOME"))


@functools.lru_cache(maxsize=16)
def _home(value: str | None, user_home: str | None) -> Path:
    """By the variables it is made of (still read on each call): a debug step asks a few times."""
    return Path(value or Path.home() / ".ductwork").expanduser()


def db_url() -> str:
    """`$DUCTWORK_DB_URL`, default SQLite at `$DUCTWORK_HOME/ductwork.db`."""
    return os.environ.get("DUCTWORK_DB_URL") or f"sqlite:///{home() / 'ductwork.db'}"


def artifacts_uri() -> str:
    """Default artifact storage: `$DUCTWORK_ARTIFACTS_URI` or `$DUCTWORK_HOME/artifacts`."""
    return os.environ.get("DUCTWORK_ARTIFACTS_URI") or _artifacts_in(home())


@functools.lru_cache(maxsize=16)
def _artifacts_in(folder: Path) -> str:
    return str(folder / "artifacts")


def allowed_storage() -> list[str]:
    """`$DUCTWORK_ALLOWED_STORAGE`: comma-separated storage prefixes a server reads besides its
    artifact root (e.g. `s3://team-bucket/experiments/`)."""
    raw = os.environ.get("DUCTWORK_ALLOWED_STORAGE", "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def api_url() -> str | None:
    return os.environ.get("DUCTWORK_API_URL") or None


# Where `ductwork ui` serves by default (and so where a task on the embedded store is shown).
DEFAULT_UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 8080


def web_url() -> str | None:
    """`$DUCTWORK_WEB_URL`: the server's web address as users' browsers reach it, when it is not
    `$DUCTWORK_API_URL` (a proxy in front of it, say)."""
    return os.environ.get("DUCTWORK_WEB_URL") or None


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


# --- server security (read on each call, like the rest) -----------------------------------------------

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _seconds(name: str, default: float) -> float:
    """A duration from `$name`: seconds, or a number with s, m, h or d (`90`, `15m`, `12h`, `7d`)."""
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    unit = _UNITS.get(raw[-1])
    try:
        value = float(raw[:-1]) * unit if unit else float(raw)
    except ValueError as exc:
        raise ValueError(f"${name} must be a duration such as 90, 15m, 12h or 7d, got {raw!r}") from exc
    if not value > 0:
        raise ValueError(f"${name} must be positive, got {raw!r}")
    return value


def _count(name: str, default: int) -> int:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"${name} must be a whole number, got {raw!r}") from exc
    if value < 1:
        raise ValueError(f"${name} must be at least 1, got {raw!r}")
    return value


def session_idle() -> float:
    """`$DUCTWORK_SESSION_IDLE`: a web session unused this long ends (default 12h)."""
    return _seconds("DUCTWORK_SESSION_IDLE", 12 * 3600.0)


def session_max() -> float:
    """`$DUCTWORK_SESSION_MAX`: a web session ends this long after login, used or not (default 7d)."""
    return _seconds("DUCTWORK_SESSION_MAX", 7 * 86400.0)


def login_user_attempts() -> int:
    """`$DUCTWORK_LOGIN_USER_ATTEMPTS`: wrong passwords for one user name before back-off (default 5)."""
    return _count("DUCTWORK_LOGIN_USER_ATTEMPTS", 5)


def login_addr_attempts() -> int:
    """`$DUCTWORK_LOGIN_ADDR_ATTEMPTS`: wrong logins from one address before back-off (default 20)."""
    return _count("DUCTWORK_LOGIN_ADDR_ATTEMPTS", 20)


def key_addr_attempts() -> int:
    """`$DUCTWORK_KEY_ADDR_ATTEMPTS`: wrong secrets of real API keys from one address before back-off
    (default 50)."""
    return _count("DUCTWORK_KEY_ADDR_ATTEMPTS", 50)


def login_backoff() -> float:
    """`$DUCTWORK_LOGIN_BACKOFF`: the first wait once a limit is reached, doubled per further failure
    (default 2s)."""
    return _seconds("DUCTWORK_LOGIN_BACKOFF", 2.0)


def login_backoff_max() -> float:
    """`$DUCTWORK_LOGIN_BACKOFF_MAX`: the longest wait (default 15m); failures older than this and
    past their wait are forgotten."""
    return _seconds("DUCTWORK_LOGIN_BACKOFF_MAX", 900.0)


def trusted_proxies() -> list[str]:
    """`$DUCTWORK_TRUSTED_PROXIES`: comma-separated addresses or networks of reverse proxies whose
    X-Forwarded-For, -Proto and -Host headers are believed (default: none)."""
    raw = os.environ.get("DUCTWORK_TRUSTED_PROXIES") or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


DEFAULT_CACHE_LIMIT = 20 << 30
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def cache_limit() -> int:
    """`$DUCTWORK_CACHE_LIMIT`: bytes the local copies of remote artifacts may take in
    `$DUCTWORK_HOME/cache/blobs` (default 20G; suffixes K, M, G, T; the least recently used
    copies go first). An unreadable value keeps the default."""
    raw = (os.environ.get("DUCTWORK_CACHE_LIMIT") or "").strip().lower().removesuffix("b")
    unit = raw[-1:] if raw[-1:] in _SIZE_UNITS else ""
    try:
        return (
            max(0, int(float(raw[: len(raw) - len(unit)]) * _SIZE_UNITS[unit]))
            if raw
            else DEFAULT_CACHE_LIMIT
        )
    except ValueError:
        return DEFAULT_CACHE_LIMIT
