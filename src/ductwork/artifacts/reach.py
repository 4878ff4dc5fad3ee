"""Whether this machine reaches a remote storage root with its own standard credentials.

A client of a server reads and writes object storage directly when it can, and through the
server when it cannot (no credentials, no route to the endpoint, no fsspec driver installed).
"Can" is asked of the storage itself: one cheap `info` of the root with the credentials fsspec
finds the standard way (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`,
profiles, fsspec's config), bounded in time, and remembered for the process: roots do not
move, and a second probe per artifact would cost a round trip each.

"Not found" is an answer from the storage, so it counts as reached: nothing is stored under a
new root yet. A write that still fails (a read-only key) fails with the storage's own error
naming the location; it never silently goes elsewhere.
"""

from __future__ import annotations

import threading
from typing import Any

from ductwork.artifacts import locations

PROBE_TIMEOUT_S = 10.0
# botocore's own defaults wait a minute per attempt and retry; a probe must answer sooner.
_S3_LIMITS = {"connect_timeout": 3, "read_timeout": 5, "retries": {"max_attempts": 2}}
_S3_SCHEMES = ("s3", "s3a")

_lock = threading.Lock()
_known: dict[str, str | None] = {}


def unreachable(root: str) -> str | None:
    """None when this machine reaches the remote `root`, else why not (a short sentence)."""
    key = root.rstrip("/")
    with _lock:
        if key in _known:
            return _known[key]
    reason = _probe(key)
    with _lock:
        _known[key] = reason
    return reason


def forget() -> None:
    """Probe every root again (credentials or the network changed, e.g. between tests)."""
    with _lock:
        _known.clear()


def _probe(root: str) -> str | None:
    answer: list[str | None] = []

    def ask() -> None:
        try:
            fs, path = locations.filesystem(root, _probe_options(root))
            fs.info(path)
        except FileNotFoundError:
            answer.append(None)  # the storage answered: nothing is stored there yet
        except ImportError as exc:
            answer.append(f"{exc.name or 'its fsspec driver'} is not installed here")
        except Exception as exc:  # no credentials, refused, unreachable: each driver has its own
            answer.append(f"{type(exc).__name__}: {exc}")
        else:
            answer.append(None)

    # A thread, so a driver without a timeout of its own cannot hold the caller past the bound.
    prober = threading.Thread(target=ask, name="ductwork-storage-probe", daemon=True)
    prober.start()
    prober.join(PROBE_TIMEOUT_S)
    return answer[0] if answer else f"no answer within {PROBE_TIMEOUT_S:g} s"


def _probe_options(root: str) -> dict[str, Any]:
    """Short timeouts for S3 on top of the user's own fsspec config (which keeps its say on
    everything else: endpoint, signature, profile)."""
    scheme = root.partition("://")[0].lower()
    if scheme not in _S3_SCHEMES:
        return {}
    import fsspec.config

    configured = fsspec.config.conf.get(scheme, {}).get("config_kwargs", {})
    return {"config_kwargs": {**configured, **_S3_LIMITS}}
