"""hwnas: hardware-aware neural architecture search for weight-entangled Vision Transformers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__version__ = "0.1.0"


def load_model(path: str | Path) -> nn.Module:
    """A model file written by ``hwnas export --format safetensors`` (or ``--format torch``) as an
    ``nn.Module`` in eval mode, rebuilt from the file alone: nothing is unpickled, no supernet is needed."""
    from hwnas.supernet.standalone import load_model as load

    return load(path)


__all__ = ["__version__", "load_model"]
