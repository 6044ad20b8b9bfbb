"""The command-line reference as markdown, rendered from the parser itself so that it cannot drift.

``help_text(None)`` is what ``hwnas --help`` prints and ``help_text("search")`` what ``hwnas search --help``
prints, both as in a terminal ``COLUMNS`` characters wide, whatever the real terminal is. ``markdown()``
is the body of the documentation's command-line reference page: one section per command.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from hwnas.cli.main import COMMANDS, build_parser

COLUMNS = 100  # the terminal width the help is rendered for (argparse wraps at COLUMNS - 2)


def _at_width(make: Callable[..., argparse.HelpFormatter]) -> Callable[..., argparse.HelpFormatter]:
    """The formatter ``make`` gives, wrapping at ``COLUMNS - 2`` as argparse does in such a terminal."""

    def formatter(**kwargs: Any) -> argparse.HelpFormatter:
        return make(**kwargs, width=COLUMNS - 2)

    return formatter


def _parsers() -> dict[str | None, argparse.ArgumentParser]:
    """The top-level parser (key None) and each command's, set to format their help at the fixed width."""
    top = build_parser()
    found: dict[str | None, argparse.ArgumentParser] = {None: top}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    for parser in found.values():
        parser.formatter_class = _at_width(parser.formatter_class)
        if hasattr(parser, "color"):  # Python 3.14+: no colour codes, even when run in a terminal
            parser.color = False
    return found


def help_text(command: str | None = None) -> str:
    """What ``hwnas [COMMAND] --help`` prints in a terminal ``COLUMNS`` characters wide."""
    parsers = _parsers()
    if command not in parsers:
        raise KeyError(f"no command {command!r}; the commands: {', '.join(COMMANDS)}")
    return parsers[command].format_help()


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _section(title: str, text: str, level: int) -> str:
    fence = _fence(text)
    return f"{'#' * level} {title}\n\n{fence}text\n{text.rstrip()}\n{fence}\n"


def markdown(level: int = 2) -> str:
    """``hwnas --help``, then each command's ``--help`` in the order of ``hwnas --help``, each under a
    heading of ``level`` (``## hwnas COMMAND``) in a ``text`` code block."""
    parsers = _parsers()
    sections = [_section("hwnas", parsers[None].format_help(), level)]
    sections += [_section(f"hwnas {name}", parsers[name].format_help(), level) for name in COMMANDS]
    return "\n".join(sections)
