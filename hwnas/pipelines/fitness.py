"""What a search maximises: top-1 with inherited supernet weights, or a training-free proxy.

Accuracy is kept per image (a hit vector), so that candidates scored on the same images can be
compared paired (:mod:`hwnas.search.significance`). Under ``torchrun`` the images are sharded across
the processes in whole batches, each process scores its batches, and the hit vectors are gathered,
so every process holds the same numbers as a single process would (same batches, same kernels).
"""

from __future__ import annotations

from collections.abc import Sized
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from hwnas.core.complexity import count_params
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
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
    n = len(cast("Sized", ds))  # load_split's data sets all have a length; torch's Dataset type does not say so
    idx = np.arange(n)
    if subset is not None and subset < n:
        idx = np.sort(np.random.default_rng(0).permutation(n)[:subset])
    if isinstance(ds, TensorDataset):
        x, y = ds.tensors
        return x[torch.from_numpy(idx)], y[torch.from_numpy(idx)]
    items = [ds[int(i)] for i in idx]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


SCORE_PRECISIONS = ("auto", "fp32", "bf16")


def score_precision(precision: str) -> str:
    """'fp32' or 'bf16': 'auto' is bf16 where this CPU computes bfloat16 natively (AVX512-BF16, AMX), as
    training does; there it scores 1.7-1.8x faster (benchmarks/score_precision.py) and changes a
    subnet's prediction on at most a few of 500 images."""
    if precision not in SCORE_PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; known: {', '.join(SCORE_PRECISIONS)}")
    if precision != "auto":
        return precision
    from hwnas.devices.host import native_bf16

    return "bf16" if native_bf16() else "fp32"


class InheritedAccuracy:
    """The supernet loaded once; per-image hits and top-1 (%) of any subnet with the weights it
    inherits, on any split, cached per (split, subset, subnet). ``precision`` as for
    :func:`score_precision`: every score of one instance uses the same arithmetic."""

    def __init__(
        self,
        space: SearchSpace,
        checkpoint: Path,
        data: str = "mnist",
        batch_size: int = 250,
        precision: str = "fp32",
    ) -> None:
        from hwnas.supernet import load_supernet

        self.space, self.data, self.batch_size = space, data, batch_size
        self.precision = score_precision(precision)
        self.net, _ = load_supernet(checkpoint, space)
        self.net.eval()
        self._splits: dict[tuple[str, int | None], tuple[Tensor, Tensor]] = {}
        self._hits: dict[tuple[str, int | None, str], np.ndarray] = {}

    def images(self, split: str, subset: int | None = None) -> int:
        """How many images a score on ``split`` (with ``subset``) is computed from."""
        return len(self._split(split, subset)[1])

    def _split(self, split: str, subset: int | None) -> tuple[Tensor, Tensor]:
        if (split, subset) not in self._splits:
            self._splits[split, subset] = split_tensors(self.space, self.data, split, subset)
        return self._splits[split, subset]

    def hits(self, cfg: SubnetConfig, split: str = "val", subset: int | None = None) -> np.ndarray:
        """Boolean per image of the split: is the subnet's top-1 prediction right?"""
        key = (split, subset, cfg.key())
        if key not in self._hits:
            self._hits[key] = self._score(cfg, *self._split(split, subset))
        return self._hits[key]

    def top1(self, cfg: SubnetConfig, split: str = "val", subset: int | None = None) -> float:
        return 100.0 * float(self.hits(cfg, split, subset).mean())

    def fitness(self, split: str = "val", subset: int | None = None) -> CachedFitness:
        """config -> top-1 on ``split`` (the validation split during the search), cached per key."""
        return CachedFitness(lambda cfg: self.top1(cfg, split, subset))

    def _score(self, cfg: SubnetConfig, x: Tensor, y: Tensor) -> np.ndarray:
        import torch

        from hwnas.supernet.distributed import gather_batches, this_process

        rank, world = this_process()
        bs, n = self.batch_size, len(y)
        starts = list(range(0, n, bs))[rank::world]  # whole batches, round robin
        self.net.set_config(cfg)
        bf16 = self.precision == "bf16"
        with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            mine = [(self.net(x[s : s + bs]).argmax(dim=1) == y[s : s + bs]) for s in starts]
        return gather_batches(mine, n, bs).numpy().astype(bool)


def params_fitness(space: SearchSpace) -> CachedFitness:
    """Parameters in millions: more is better within one supernet (training-free)."""
    return CachedFitness(lambda cfg: count_params(space, cfg) / 1e6)
