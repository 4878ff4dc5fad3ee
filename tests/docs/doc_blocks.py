"""The fenced code blocks of the documentation, and what each is marked as.

A block is marked by an HTML comment on the line before its fence (invisible on the site):

* `<!-- example: run -->`: a runnable example; tests/docs/test_doc_examples.py runs it in a fresh
  `$DUCTWORK_HOME` and an empty working folder of its own.
* `<!-- example: continue -->`: runnable too, in the home and folder of the block before it on
  the same page (a "look at what you just made" block after the one that made it).
* `<!-- example: fragment -->`: deliberately not runnable (a part of a larger program, names
  defined elsewhere, a server or cluster it would need).
* `<!-- example: included -->`: a file of the repository included whole at build time
  (`--8<-- "examples/x.py"`), run by its own tests (tests/examples).

Every Python block must carry one of these marks, so none is forgotten; a shell block is run only
when marked (most start servers or talk to clusters and machines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
MARKS = ("run", "continue", "fragment", "included")
PYTHON = ("python", "py", "python3")
SHELL = ("bash", "sh", "shell", "console")

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_MARK = re.compile(r"^\s*<!--\s*example:\s*(?P<mark>[\w-]+)\s*-->\s*$")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    mark: str | None
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of one Markdown page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marked = _MARK.match(previous)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][indent:])
            j += 1
        found.append(
            Block(page, i + 1, opening["lang"].lower(), marked["mark"] if marked else None, "\n".join(body))
        )
        i = j + 1
    return found


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]
