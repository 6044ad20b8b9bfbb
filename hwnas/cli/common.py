"""Arguments and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import math

from hwnas.core import presets
from hwnas.core.config import SubnetConfig
from hwnas.core.resolve import resolve_subnet
from hwnas.core.space import SearchSpace
from hwnas.pipelines.workdir import RunDir
from hwnas.present import print_json

__all__ = [
    "add_workdir",
    "add_space",
    "add_subnet",
    "workdir",
    "space_of",
    "subnet_of",
    "positive_int",
    "positive_float",
    "seed",
    "print_json",
]


def add_workdir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workdir",
        metavar="DIR",
        default=None,
        help="run folder shared by all steps (default: $HWNAS_WORKDIR or ./hwnas-run)",
    )


def add_space(p: argparse.ArgumentParser, default: str | None = presets.DEFAULT_SPACE) -> None:
    p.add_argument(
        "--space",
        metavar="SPACE",
        default=default,
        help=f"preset ({', '.join(presets.names())}) or an AutoFormer YAML file"
        + (f" (default: {default})" if default else ""),
    )


def add_subnet(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--subnet",
        metavar="SUBNET",
        required=required,
        help="AutoFormer RETRAIN YAML file, or 'max' / 'min' of the space",
    )


def workdir(args: argparse.Namespace) -> RunDir:
    return RunDir.resolve(getattr(args, "workdir", None))


def space_of(args: argparse.Namespace) -> SearchSpace:
    return presets.get(args.space)


def subnet_of(space: SearchSpace, spec: str) -> SubnetConfig:
    """'max', 'min' or a RETRAIN YAML file, validated against the space."""
    return resolve_subnet(space, spec)


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < v < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {v}")
    return v


MAX_SEED = 2**32 - 1


def seed(text: str) -> int:
    """A seed for numpy and torch: an integer from 0 to 2**32 - 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, got {v}")
    return v
