"""Text that is safe to show: stored strings made inert for a terminal, secrets masked.

Everything a CLI prints from the store is somebody's input: a task name or a console line
can carry escape sequences that move the cursor, retitle the window, rewrite what is
already on the screen, or reverse the reading order (bidi overrides). `printable` turns
every such character into a visible escape (`\\x1b`, `\\u202e`), so the user sees what is
stored instead of having it act on their terminal.

    printable("ok\\x1b[2J")            -> 'ok\\\\x1b[2J'
    printable("a\\tb\\nc", lines=True)  -> 'a\\tb\\nc'   (console text keeps its layout)

`mask_secrets` hides passwords in URLs and connection strings wherever they may end up in
a message, a log line or a start line.
"""

from __future__ import annotations

import re

from ductwork.core.patterns import Pattern

# C0 controls, DEL and C1 controls: each may start or be part of a terminal control sequence
# (C1 0x9b is a one-byte CSI on terminals that honour 8-bit controls).
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
# Characters that change the visual order or hide text: bidi embeddings, overrides and
# isolates, the implicit marks, and the line/paragraph separators some terminals break on.
_INVISIBLE = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]


_SHORT = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _escape_of(code: int) -> str:
    if code in _SHORT:
        return _SHORT[code]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_SINGLE_LINE = {code: _escape_of(code) for code in (*_CONTROLS, *_INVISIBLE)}
# Console text keeps its line breaks and tabs readable; a carriage return stays escaped, as
# it would let a line overwrite the one before it.
_MULTI_LINE = {code: text for code, text in _SINGLE_LINE.items() if code not in (0x09, 0x0A)}


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with every control, bidi and separator character shown as an escape.

    With `lines`, newlines and tabs are kept (console output, tracebacks); otherwise they
    are escaped too, so a one-line field stays one line.
    """
    return str(text).translate(_MULTI_LINE if lines else _SINGLE_LINE)


# scheme://user:password@host: everything up to the last '@' of the word is hidden, as an
# unencoded password may itself hold '@' or '/'.
_URL_PASSWORD = Pattern(r"([A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)\S*@")
# password=... in libpq keyword strings and URL queries
_KEY_PASSWORD = Pattern(r"((?:^|[\s?&;,(])(?:password|passwd|pwd)\s*=\s*)('[^']*'|[^\s&;,)]*)", re.I)


def mask_secrets(text: object) -> str:
    """`text` with the passwords of any URL (`scheme://user:***@host`) and of any
    `password=` setting replaced by `***`."""
    masked = _URL_PASSWORD.sub(r"\1***@", str(text))
    return _KEY_PASSWORD.sub(r"\1***", masked)


# The words a person reads for a task's status, one table for the CLI and the web UI (the
# runs table, the task pages, actions.js's copy). A task's stored status is ClearML's
# (`in_progress`, `stopped`, ...); a pipeline node's state (core.states.NodeStatus: pending,
# queued, running, cached, ...) is already a word and shown as stored. `--json` and the
# REST API keep the stored values.
STATUS_WORDS: dict[str, str] = {
    "created": "draft",
    "queued": "pending",
    "in_progress": "running",
    "completed": "completed",
    "published": "completed",
    "failed": "failed",
    "stopped": "aborted",
}

# The stored task statuses each word stands for, to filter by the word a person read.
STATUSES_OF_WORD: dict[str, tuple[str, ...]] = {
    "draft": ("created",),
    "pending": ("queued",),
    "running": ("in_progress",),
    "completed": ("completed", "published"),
    "failed": ("failed",),
    "aborted": ("stopped",),
}


def status_word(status: str) -> str:
    """The word shown for a task's stored status (`in_progress` -> `running`)."""
    return STATUS_WORDS.get(status, status)
