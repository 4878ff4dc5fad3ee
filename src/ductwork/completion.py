"""Shell completion of ids for click arguments (`ductwork completion bash|zsh|fish`).

    @click.argument("run_id", shell_complete=run_ids)

The client is imported only when the shell asks for completions, so a command module that
names these stays light to import.
"""

from __future__ import annotations

from typing import Any


def task_ids(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """Task ids that start with what was typed."""
    from ductwork.client.ids import complete

    return complete(incomplete)


def run_ids(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """Pipeline run ids that start with what was typed."""
    from ductwork.client.ids import complete

    return complete(incomplete, runs=True)
