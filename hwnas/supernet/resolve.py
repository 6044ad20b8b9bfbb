"""Resolution that reads checkpoints: the space a checkpoint holds, and the supernet to extract from."""

from __future__ import annotations

from pathlib import Path

import torch

from hwnas.core import presets
from hwnas.core.resolve import space_of_subnet_file
from hwnas.core.space import SearchSpace
from hwnas.supernet.checkpoint import FORMAT, load_supernet, safe_load, stored_space
from hwnas.supernet.supernet import Supernet


def checkpoint_space(checkpoint: str | Path) -> SearchSpace | None:
    """The space an hwnas checkpoint carries (AutoFormer checkpoints carry none: None)."""
    ckpt = safe_load(checkpoint)
    if ckpt.get("format") == FORMAT:
        return stored_space(ckpt, checkpoint)
    return None


def resolve_space(
    space: str | None, subnet: str | None = None, checkpoint: str | Path | None = None, default: bool = True
) -> SearchSpace | None:
    """--space if given; else the space saved with the subnet YAML or in an hwnas checkpoint;
    else the default preset (or None with ``default=False``)."""
    if space:
        return presets.get(space)
    found = space_of_subnet_file(subnet)
    if found is None and checkpoint:
        found = checkpoint_space(checkpoint)
    if found is not None:
        return found
    return presets.get(presets.DEFAULT_SPACE) if default else None


def supernet_for(space: SearchSpace | None, checkpoint: str | Path | None = None, seed: int = 0) -> Supernet:
    """The supernet in eval mode: the checkpoint's weights (its own space if ``space`` is None), or a
    seeded random initialisation of ``space`` (default: the default preset)."""
    if checkpoint:
        net, _ = load_supernet(checkpoint, space)
    else:
        torch.manual_seed(seed)
        net = Supernet(space or presets.get(presets.DEFAULT_SPACE))
    return net.eval()
