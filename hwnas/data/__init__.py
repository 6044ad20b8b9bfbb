"""Data: the bundled MNIST sample (no download) and image folders, split train / val / test.

The validation split is what a search scores candidates on; the test split is for final reports only.
"""

from hwnas.data.bundled import NAME as BUNDLED
from hwnas.data.loaders import SPLITS, ResumableSampler, batches, check_split, load_split

__all__ = ["BUNDLED", "SPLITS", "ResumableSampler", "batches", "check_split", "load_split"]
