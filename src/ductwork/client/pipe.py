"""The pipe transport: a local-mode step process reports to its controller over a Unix socket.

The controller owns the store; the step process speaks the Backend contract as JSON lines
over a socket, so it imports neither SQLAlchemy nor fsspec and pays ~0.1 ms a call.

The server greets each connection with the methods it serves (read when the step first needs
them: no round trip of its own), and `PipeBackend.batch` sends several calls in one round trip
(a step's reads at its start, its records at its end), each made in order as if alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core import errors, queries, records, sockets

_RECORDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (*vars(records).values(), *vars(queries).values())
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
}
_ERRORS: dict[str, type[Exception]] = {
    name: cls for name, cls in vars(errors).items() if isinstance(cls, type) and issubclass(cls, Exception)
}


def encode(value: Any) -> Any:
    """Records become `{"__record__": name, ...fields}`; everything else must be JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out["__record__"] = type(value).__name__
        return out
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        name = value.get("__record__")
        fields = {k: decode(v) for k, v in value.items() if k != "__record__"}
        return _RECORDS[name](**fields) if name else fields
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class PipeServer:
    """Serves `backend` on a private Unix socket until `close()`; one thread per step process."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._dir = sockets.folder("ductwork-pipe-")  # mode 0700, as mkdtemp makes it
        self.address = os.path.join(self._dir, sockets.SOCKET)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.address)
        self._sock.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, name="ductwork-pipe", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn, conn.makefile("rb") as reader:
                conn.sendall(json.dumps({"r": self._methods()}).encode() + b"\n")  # the greeting
                for line in reader:
                    conn.sendall(self._answer(line) + b"\n")
        except OSError:
            pass  # the step process ended (or was killed) mid-call: nothing is waiting for us

    def _answer(self, line: bytes) -> bytes:
        try:
            request = json.loads(line)
            if request["m"] == "__methods__":
                return json.dumps({"r": self._methods()}).encode()
            if request["m"] == "__batch__":  # in order; the first failure ends the batch
                results = [self._call(call["m"], call["a"], call["k"]) for call in request["a"]]
                return json.dumps({"r": results}).encode()
            return json.dumps({"r": self._call(request["m"], request["a"], request["k"])}).encode()
        except Exception as exc:  # every failure goes back to the caller, who re-raises it
            kind = type(exc).__name__ if type(exc).__name__ in _ERRORS else "DuctworkError"
            return json.dumps({"e": kind, "msg": str(exc)}).encode()

    def _call(self, name: str, args: Any, kwargs: Any) -> Any:
        if name.startswith("_") or name not in self._methods():
            raise AttributeError(f"the controller's backend has no method {name!r}")
        method: Callable[..., Any] = getattr(self._backend, name)
        return encode(method(*decode(args), **decode(kwargs)))

    def _methods(self) -> list[str]:
        """What a step may call: the public methods of the backend this controller owns."""
        names = getattr(self, "_names", None)
        if names is None:
            if isinstance(self._backend, PipeBackend):  # a pipeline run as a step: pass its pipe on
                names = sorted(self._backend.methods)
            else:
                # Not what belongs to this process: closing its store, hooking its writes.
                own: frozenset[str] = getattr(type(self._backend), "process_only", frozenset())
                public = (n for n in dir(self._backend) if not n.startswith("_") and n not in own)
                names = sorted(n for n in public if callable(getattr(self._backend, n)))
            self._names = names
        return names

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.address)
            os.rmdir(self._dir)


class PipeBackend:
    """The Backend contract over a PipeServer's socket (methods resolved by name)."""

    def __init__(self, address: str) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(address)
        self._reader = self._sock.makefile("rb")
        self._lock = threading.Lock()
        self._methods: frozenset[str] | None = None  # the server's greeting, read when first needed

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._round_trip({"m": method, "a": encode(list(args)), "k": encode(kwargs)})

    def batch(self, calls: Sequence[tuple[str, Sequence[Any], Mapping[str, Any]]]) -> list[Any]:
        """Several calls `(method, args, kwargs)` in one round trip, made in order as if one by
        one: their results, or the first one's failure raised (the calls after it not made)."""
        request = [{"m": m, "a": encode(list(a)), "k": encode(dict(k))} for m, a, k in calls]
        results: list[Any] = self._round_trip({"m": "__batch__", "a": request})
        return results

    def _round_trip(self, request: dict[str, Any]) -> Any:
        payload = json.dumps(request).encode()
        with self._lock:
            self._greeted()
            self._sock.sendall(payload + b"\n")
            answer = self._read()
        return decode(answer)

    def _greeted(self) -> frozenset[str]:
        """The methods the server said it serves (holding the lock)."""
        if self._methods is None:
            self._methods = frozenset(self._read())
        return self._methods

    def _read(self) -> Any:
        line = self._reader.readline()
        if not line:
            raise errors.StorageError("the pipeline controller closed the pipe (did it stop?)")
        answer = json.loads(line)
        if "e" in answer:
            raise _ERRORS.get(answer["e"], errors.DuctworkError)(answer["msg"])
        return answer["r"]

    @property
    def methods(self) -> frozenset[str]:
        """The methods the controller's backend offers."""
        with self._lock:
            return self._greeted()

    def __getattr__(self, method: str) -> Callable[..., Any]:
        # Only what the controller's backend has, so `getattr(backend, name, None)` probes work.
        if method.startswith("_") or method not in self.methods:
            raise AttributeError(method)
        return lambda *args, **kwargs: self.call(method, *args, **kwargs)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._reader.close()
            self._sock.close()
