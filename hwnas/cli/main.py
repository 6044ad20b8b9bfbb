"""Entry point: builds the parser from the subcommand modules; failures go through :mod:`.failures`."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings
from contextlib import contextmanager
from typing import Iterator, NoReturn, Sequence, TextIO

from hwnas import __version__
from hwnas.cli.failures import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, one_line, sigterm_as_interrupt

# Each module defines HELP, add_arguments(parser) and run(args) -> int.
COMMANDS = [
    "run",
    "train",
    "eval",
    "devices",
    "profile",
    "records",
    "fit",
    "predict",
    "search",
    "export",
    "finetune",
    "inspect",
    "agent",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        sys.stderr.write(f"hwnas: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hwnas",
        description="Hardware-aware neural architecture search for "
        "weight-entangled Vision Transformers (AutoFormer supernets).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hwnas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        mod = importlib.import_module(f"hwnas.cli.{name}_cmd")
        p = sub.add_parser(
            name, help=mod.HELP, description=mod.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    sys.stderr.write(f"hwnas: warning: {message}\n")


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings shown as one line while the block runs; the previous hook and filters are back after it."""
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # restored by catch_warnings on exit
        yield


def main(argv: Sequence[str] | None = None) -> int:
    with _one_line_warnings():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        with sigterm_as_interrupt():
            return int(args._run(args) or 0)
    except KeyboardInterrupt as e:
        signal = "terminated" if isinstance(e, Terminated) else "interrupted"
        sys.stderr.write(f"hwnas {args.command}: {signal}; committed work is kept, temporary files removed\n")
        return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the one place that decides what the user sees
        msg = one_line(e)
        if msg is None:
            traceback.print_exc()
            sys.stderr.write(
                f"hwnas {args.command}: internal error ({type(e).__name__}); this is a bug in "
                "hwnas: please report it with the traceback above\n"
            )
            return 1
        sys.stderr.write(f"hwnas {args.command}: error: {msg}\n")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
