"""mkdocs hook: the command-line reference, generated from the parser.

The marker in reference/cli.md is replaced by ``hwnas --help`` and every command's ``--help``, rendered by
:mod:`hwnas.cli.reference` at a fixed width, so the page always shows what the installed ``hwnas`` prints.
"""

from __future__ import annotations

from typing import Any

from mkdocs.exceptions import PluginError

PAGE = "reference/cli.md"
MARKER = "<!-- hwnas-cli-reference -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if markdown.count(MARKER) != 1:
        raise PluginError(f"{PAGE} must hold the line {MARKER} exactly once (the generated reference goes there)")
    from hwnas.cli.reference import markdown as reference

    return markdown.replace(MARKER, reference(level=2))
