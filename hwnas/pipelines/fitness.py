"""What a search maximises: top-1 with inherited supernet weights, or a training-free proxy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwnas.core.complexity import count_params
from hwnas.core.space import SearchSpace
from hwnas.search import CachedFitness

if TYPE_CHECKING:
    from torch import Tensor


def split_tensors(space: SearchSpace, data: str, split: str, subset: int | None = None) -> tuple[Tensor, Tensor]:
    """Images and labels of one split held in memory; ``subset`` keeps a fixed random sample of it."""
    import torch
    from torch.utils.data import TensorDataset

    from hwnas.data.loaders import load_split

    ds = load_split(data, split, space)
    idx = np.arange(len(ds))
    if subset is not None and subset < len(ds):
        idx = np.sort(np.random.default_rng(0).permutation(len(ds))[:subset])
    if isinstance(ds, TensorDataset):
        x, y = ds.tensors
        return x[torch.from_numpy(idx)], y[torch.from_numpy(idx)]
    items = [ds[int(i)] for i in idx]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


class InheritedAccuracy:
    """The supernet loaded once; top-1 (%) of any subnet with the weights it inherits, on any split."""

    def __init__(self, space: SearchSpace, checkpoint: Path, data: str = "mnist", batch_size: int = 250) -> None:
        from hwnas.supernet import load_supernet

        self.space, self.data, self.batch_size = space, data, batch_size
        self.net, _ = load_supernet(checkpoint, space)
        self.net.eval()

    def fitness(self, split: str = "val", subset: int | None = None) -> CachedFitness:
        """config -> top-1 on ``split`` (the validation split during the search), cached per key."""
        from hwnas.supernet.evaluate import evaluate

        x, y = split_tensors(self.space, self.data, split, subset)
        bs = self.batch_size
        loader = [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(y), bs)]
        return CachedFitness(lambda cfg: float(evaluate(self.net, cfg, loader)["top1"]))


def params_fitness(space: SearchSpace) -> CachedFitness:
    """Parameters in millions: more is better within one supernet (training-free)."""
    return CachedFitness(lambda cfg: count_params(space, cfg) / 1e6)
