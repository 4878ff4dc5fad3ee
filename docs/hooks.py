"""MkDocs hooks (mkdocs.yml `hooks:`): the CLI reference is rendered from the click commands
themselves at build time, so it can never describe options that no longer exist.

`reference/cli.md` holds the marker `<!-- cli-reference -->`; `render_cli()` replaces it with one
section per command: its usage line, its help text and a table of its options.
tests/docs/test_site.py checks that the built page names every command and every option.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import click

MARKER = "<!-- cli-reference -->"


def walk(command: click.Command, name: str, parent: click.Context | None = None) -> Iterator[click.Context]:
    """Every command under `command` (itself first), as the click context it would run in."""
    ctx = click.Context(command, info_name=name, parent=parent)
    yield ctx
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not child.hidden:
                yield from walk(child, sub, ctx)


def _escape(text: str) -> str:
    """Markdown-safe outside `code spans`: `<task id>` must not become an HTML tag."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;").replace("*", r"\*")
    return "`".join(parts)


def _help(command: click.Command) -> str:
    """The help text's paragraphs; one click keeps as it is written (`\b` on its first line:
    examples, aligned columns) becomes a text block, as `--help` prints it."""
    text = inspect.cleandoc(command.help or command.short_help or "")
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        if paragraph.startswith("\b"):
            kept = inspect.cleandoc(paragraph.removeprefix("\b").strip("\n"))
            paragraphs.append(f"```text\n{kept}\n```")
        else:
            paragraphs.append(_escape(paragraph))
    return "\n\n".join(paragraphs)


def _cell(text: str) -> str:
    return _escape(" ".join(text.split())).replace("|", r"\|")


def _option_rows(ctx: click.Context) -> list[str]:
    rows = []
    for param in ctx.command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden or param.name == "help":
            continue
        names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        if not param.is_flag and not param.count:
            names += f" `{_metavar(param, ctx)}`"
        default = ""
        if _shown_default(param):
            default = f"`{param.default}`"
        names = names.replace("|", "\\|")
        rows.append(f"| {names} | {default} | {_cell(param.help or '')} |")
    return rows


def _shown_default(param: click.Option) -> bool:
    value = param.default
    if param.show_default is False or callable(value) or type(value).__name__ == "Sentinel":
        return False  # click >= 8.3 marks "no default" with a sentinel
    return value not in (None, False, (), [])


def _metavar(param: click.Option, ctx: click.Context) -> str:
    try:
        return param.make_metavar(ctx)  # click >= 8.2
    except TypeError:
        return param.make_metavar()  # type: ignore[call-arg]


def render_cli() -> str:
    """The whole CLI reference, as Markdown."""
    from ductwork.cli import main

    out: list[str] = []
    for ctx in walk(main, "ductwork"):
        path = ctx.command_path
        depth = path.count(" ")
        if depth:
            out.append(f"{'#' * min(depth + 1, 4)} {path}\n")
        out.append(f"```text\n{ctx.command.get_usage(ctx)}\n```\n")
        help_text = _help(ctx.command)
        if help_text:
            out.append(help_text + "\n")
        rows = _option_rows(ctx)
        if rows:
            out.append("| option | default | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, render_cli())
    return markdown


def anchor(path: str) -> str:
    """The heading id MkDocs gives `## ductwork tasks list` (for links and the test)."""
    return re.sub(r"[^\w-]", "", path.lower().replace(" ", "-"))
