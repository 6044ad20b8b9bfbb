"""Data sets by name or path, checked against a search space, and resumable (distributed) batching."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.data import bundled
from hwnas.data.folder import ImageFolder, folder_splits
from hwnas.data.transforms import GRAY_MEAN, GRAY_STD, IMAGENET_MEAN, IMAGENET_STD, eval_transform, train_transform

SPLITS = ("train", "val", "test")


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return split


def load_split(data: str, split: str, space: SearchSpace, augment: bool = False, seed: int = 0) -> Dataset:
    """One split of ``data`` ('mnist' or an image folder) shaped for ``space``.

    ``augment`` applies the ViT training transforms to image folders (the bundled MNIST is used as is).
    """
    check_split(split)
    if data == bundled.NAME:
        geometry = (bundled.IMG_SIZE, bundled.IN_CHANS, bundled.NUM_CLASSES)
        if (space.img_size, space.in_chans, space.num_classes) != geometry:
            raise ConfigError(
                f"the bundled MNIST is 28x28, 1 channel, 10 classes; space {space.name!r} "
                f"expects {space.img_size}x{space.img_size}, {space.in_chans} channels, "
                f"{space.num_classes} classes (use --space mnist-cpu)"
            )
        return TensorDataset(*bundled.mnist_split(split))
    if not Path(data).exists():
        raise ConfigError(f"--data must be '{bundled.NAME}' or an image folder; {data!r} does not exist")
    classes, splits = folder_splits(data, seed=0)
    if len(classes) != space.num_classes:
        raise ConfigError(f"{data} has {len(classes)} classes but space {space.name!r} has {space.num_classes}")
    mean, std = (GRAY_MEAN, GRAY_STD) if space.in_chans == 1 else (IMAGENET_MEAN, IMAGENET_STD)
    tf = (train_transform if augment else eval_transform)(space.img_size, mean, std)
    return ImageFolder(splits[split], classes, tf, in_chans=space.in_chans, seed=seed)


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (one shard per rank, reshuffled per epoch from ``seed + epoch``) that can
    start part-way into an epoch, so a resumed run sees exactly the batches it would have seen."""

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.skip = 0

    def set_position(self, epoch: int, skip: int = 0) -> None:
        """Start ``epoch`` after its first ``skip`` indices."""
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return self.num_samples - self.skip


def batches(
    dataset: Dataset, sampler: ResumableSampler | None, batch_size: int, drop_last: bool = False, workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) batches in the sampler's order (all of ``dataset`` in order without one).

    In-memory tensor data sets are indexed directly; others go through a DataLoader.
    """
    if isinstance(dataset, TensorDataset):
        order = torch.tensor(list(sampler) if sampler is not None else range(len(dataset)), dtype=torch.long)
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        x, y = dataset.tensors
        for i in range(0, stop, batch_size):
            idx = order[i : i + batch_size]
            yield x[idx], y[idx]
        return
    if sampler is not None and hasattr(dataset, "set_epoch"):
        dataset.set_epoch(sampler.epoch)
    yield from DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=workers,
        persistent_workers=False,
    )
