"""Every runnable example in docs/ runs, as a reader would run it: a fresh `$DUCTWORK_HOME`, an
empty working folder, a new Python process (shell blocks in bash, with `ductwork` on PATH).
`<!-- example: continue -->` blocks run after the block before them, in its home and folder.
And every Python block is marked, so a new example cannot be forgotten (doc_blocks.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from doc_blocks import MARKS, PYTHON, ROOT, SHELL, Block, all_blocks

pytestmark = pytest.mark.slow

_CLEARED = ("DUCTWORK_DB_URL", "DUCTWORK_API_URL", "DUCTWORK_API_KEY", "DUCTWORK_PIPE", "DUCTWORK_TASK_ID")


def _chains() -> list[list[Block]]:
    """Runnable blocks grouped: a `run` block and the `continue` blocks after it on its page."""
    chains: list[list[Block]] = []
    for block in all_blocks():
        if block.mark == "run":
            chains.append([block])
        elif block.mark == "continue":
            assert chains and chains[-1][0].page == block.page, (
                f"{block.where}: `example: continue` with no runnable block before it on the page"
            )
            chains[-1].append(block)
    return chains


CHAINS = _chains()


def _run(block: Block, home: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(
        DUCTWORK_HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    if block.lang in PYTHON:
        script = folder / f"example_{block.line}.py"
        script.write_text(block.code + "\n", encoding="utf-8")
        command = [sys.executable, script.name]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.parametrize("chain", CHAINS, ids=[chain[0].where for chain in CHAINS])
def test_runnable_example_runs(chain: list[Block], tmp_path: Path) -> None:
    home, folder = tmp_path / "ductwork-home", tmp_path / "work"
    folder.mkdir()
    for block in chain:
        assert block.lang in PYTHON + SHELL, f"{block.where}: cannot run a {block.lang!r} block"
        done = _run(block, home, folder)
        assert done.returncode == 0, (
            f"{block.where} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )


def test_every_python_block_is_marked_runnable_or_fragment() -> None:
    unmarked = [b.where for b in all_blocks() if b.lang in PYTHON and b.mark is None]
    assert not unmarked, (
        "Python blocks without `<!-- example: run|continue|fragment -->` on the line before: "
        + ", ".join(unmarked)
    )


def test_marks_are_known_and_on_code_that_can_run() -> None:
    blocks = all_blocks()
    unknown = [f"{b.where}: {b.mark}" for b in blocks if b.mark is not None and b.mark not in MARKS]
    assert not unknown, f"unknown example marks: {unknown}"
    unrunnable = [b.where for b in blocks if b.mark in ("run", "continue") and b.lang not in PYTHON + SHELL]
    assert not unrunnable, f"marked runnable but neither Python nor shell: {unrunnable}"


def test_included_blocks_only_include_files_that_exist() -> None:
    """An `included` block is one snippet line naming a file of the repository, nothing else."""
    for block in all_blocks():
        if block.mark != "included":
            continue
        lines = [line for line in block.code.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("--8<-- "), f"{block.where}: {lines}"
        included = ROOT / lines[0].split(None, 1)[1].strip().strip("\"'")
        assert included.is_file(), f"{block.where}: {included} does not exist"


def test_the_docs_have_runnable_examples() -> None:
    """The getting-started page and the concepts page are mostly examples; losing them all
    (a broken marker pattern, say) must not pass quietly."""
    pages = {chain[0].page.name for chain in CHAINS}
    assert {"getting-started.md", "concepts.md", "clearml-migration.md"} <= pages, pages
