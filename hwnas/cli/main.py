"""Entry point: builds the parser from the subcommand modules and turns errors into one line."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Sequence

from hwnas import __version__
from hwnas.core.errors import HwnasError

# Each module defines HELP, add_arguments(parser) and run(args) -> int.
COMMANDS = ["run", "train", "eval", "devices", "profile", "records", "fit", "predict", "search", "export",
            "inspect"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"hwnas: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hwnas", description="Hardware-aware neural architecture search for "
                     "weight-entangled Vision Transformers (AutoFormer supernets).",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hwnas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        mod = importlib.import_module(f"hwnas.cli.{name}_cmd")
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    sys.stderr.write(f"hwnas: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except HwnasError as e:
        sys.stderr.write(f"hwnas {args.command}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"hwnas {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
