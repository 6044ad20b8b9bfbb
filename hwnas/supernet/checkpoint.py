"""Supernet checkpoints: hwnas's own (space + weights + training state) and AutoFormer's
(``{'model': state_dict}``, possibly with optimizer, epoch and argparse args), both read with
``torch.load(weights_only=True)`` and written atomically."""

from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from hwnas.core.atomic import atomic_write
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import space_from_dict, space_to_dict
from hwnas.supernet.supernet import Supernet

FORMAT = "hwnas-supernet"


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` that never leaves a torn file (see :func:`hwnas.core.atomic.atomic_write`)."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def safe_load(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)``, also admitting the argparse.Namespace AutoFormer stores."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path} is empty, not a checkpoint")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" not in str(e).lower():  # not a refused object: a file torch cannot parse
            raise ConfigError(f"{path} is not a readable checkpoint (not a torch file)") from None
        raise ConfigError(
            f"{path} was refused: it holds objects other than tensors and plain data"
            f"{_unsupported(str(e))}, which could run code when loaded"
        ) from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
        UnicodeDecodeError,
        OverflowError,
        MemoryError,
    ) as e:
        raise ConfigError(f"{path} is not a readable checkpoint: {_first_line(e)}") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{path} is not a checkpoint (expected a dict, got {type(obj).__name__})")
    return obj


def _first_line(e: BaseException) -> str:
    return next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)[:200]


def _unsupported(message: str) -> str:
    """The global torch refused (never its advice to load with weights_only=False)."""
    m = re.search(r"GLOBAL ([\w.]+)", message)
    return f" ({m.group(1)})" if m else ""


def save_checkpoint(net: Supernet, path: str | Path, **state: Any) -> Path:
    """hwnas checkpoint: the space, AutoFormer-named weights under 'model', and any training state."""
    obj = {
        "format": FORMAT,
        "space": space_to_dict(net.space),
        "space_name": net.space.name,
        "model": net.state_dict(),
        **state,
    }
    return atomic_torch_save(obj, path)


def stored_space(ckpt: dict[str, Any], path: str | Path) -> SearchSpace:
    """The space an hwnas checkpoint carries, checked like a space file."""
    if not isinstance(ckpt.get("space"), dict):
        raise ConfigError(f"{path} is an hwnas checkpoint without its search space")
    name = ckpt.get("space_name")
    try:
        return space_from_dict(ckpt["space"], name=name if isinstance(name, str) else "checkpoint")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _strip_prefix(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in ("module.", "_orig_mod."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def load_supernet(
    path: str | Path, space: SearchSpace | None = None, drop_path_rate: float = 0.0
) -> tuple[Supernet, dict[str, Any]]:
    """A supernet with the checkpoint's weights, and the whole checkpoint dict.

    hwnas checkpoints carry their space; ``space`` if given must match it. AutoFormer checkpoints
    carry none, so ``space`` is required (a preset or AutoFormer YAML with its MODEL block).
    """
    ckpt = safe_load(path)
    if ckpt.get("format") == FORMAT:
        stored = stored_space(ckpt, path)
        if space is not None and space.digest() != stored.digest():
            raise ConfigError(f"{path} holds a supernet of space {stored.name!r}, not of {space.name!r}")
        space = stored
    elif space is None:
        raise ConfigError(f"{path} is an AutoFormer checkpoint: pass its search space (--space)")
    sd = ckpt.get("model", ckpt.get("state_dict"))
    if not isinstance(sd, dict):
        raise ConfigError(f"{path} has no 'model' state dict")
    net = Supernet(space, drop_path_rate=drop_path_rate)
    load_weights(net, _strip_prefix(sd), source=str(path))
    return net, ckpt


def load_weights(net: Supernet, sd: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load a state dict, turning shape and key mismatches into one readable ConfigError."""
    own = net.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in sd and sd[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"shape mismatch in {len(wrong)} tensors, e.g. {wrong[0]}")
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
        raise ConfigError(f"{source} does not fit the supernet of space {net.space.name!r}: " + "; ".join(parts))
    net.load_state_dict(sd)
