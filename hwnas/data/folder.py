"""Image folders in the ImageNet layout: one sub-folder per class, read with PIL.

``ROOT/train/<class>/*.jpg`` (+ ``ROOT/val/``, optional ``ROOT/test/``), or just ``ROOT/<class>/*``,
which is then split 80/10/10 per class with a fixed seed. Random augmentation of image ``i`` in epoch
``e`` draws from a generator seeded with (seed, e, i), so it is the same with any number of loader
workers and after a resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from hwnas.core.errors import ConfigError, NotFoundError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")

Transform = Callable[[Image.Image, np.random.Generator], torch.Tensor]


def scan(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Sorted class names (sub-folders) and (file, class index) pairs of the images under them."""
    if not root.is_dir():
        raise NotFoundError(f"no image folder at {root}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ConfigError(f"{root} has no class sub-folders (expected ROOT/<class>/<image>)")
    samples = [
        (f, i)
        for i, c in enumerate(classes)
        for f in sorted((root / c).rglob("*"))
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...) under {root}")
    return classes, samples


class ImageFolder(Dataset):
    """(image tensor, label) pairs; images converted to RGB or grayscale ('L') to match ``in_chans``."""

    def __init__(
        self,
        samples: list[tuple[Path, int]],
        classes: list[str],
        transform: Transform,
        in_chans: int = 3,
        seed: int = 0,
    ) -> None:
        if in_chans not in (1, 3):
            raise ConfigError(f"image folders need a space with 1 or 3 input channels, not {in_chans}")
        self.samples, self.classes, self.transform = samples, classes, transform
        self.mode = "L" if in_chans == 1 else "RGB"
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        try:
            with Image.open(path) as im:
                img = im.convert(self.mode)
        except (OSError, UnidentifiedImageError) as e:
            raise ConfigError(f"cannot read image {path}: {e}") from None
        return self.transform(img, np.random.default_rng([self.seed, self.epoch, i])), label

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]


def folder_splits(root: str | Path, seed: int = 0) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """Class names and the samples of train / val / test.

    With ``train/`` and ``val/`` sub-folders those are used (``test/`` too if present, else val); a
    flat folder of classes is split 80/10/10 per class with a fixed seed.
    """
    from hwnas.data.bundled import stratified_split

    root = Path(root)
    if (root / "train").is_dir():
        classes, train = scan(root / "train")
        if not (root / "val").is_dir():
            raise ConfigError(f"{root} has train/ but no val/ folder")
        splits = {"train": train}
        for name in ("val", "test"):
            folder = root / name if (root / name).is_dir() else root / "val"
            cls, splits[name] = scan(folder)
            if cls != classes:
                raise ConfigError(f"{folder} has classes {cls[:3]}... that differ from train/'s {classes[:3]}...")
        return classes, splits
    classes, samples = scan(root)
    labels = np.array([label for _, label in samples])
    idx = stratified_split(labels, {"train": 0.8, "val": 0.1, "test": 0.1}, seed)
    return classes, {k: [samples[i] for i in v] for k, v in idx.items()}
