"""Named search spaces. ``get(name)`` also accepts the path of an AutoFormer YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hwnas.core.errors import UnknownNameError
from hwnas.core.space import SearchSpace

_REGISTRY: dict[str, Callable[[], SearchSpace]] = {}

DEFAULT_SPACE = "mnist-cpu"


def register(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    def deco(fn: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        _REGISTRY[name] = fn
        return fn

    return deco


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name_or_path: str | Path) -> SearchSpace:
    """A preset by name, or a space read from an AutoFormer YAML file."""
    key = str(name_or_path)
    if key in _REGISTRY:
        return _REGISTRY[key]()
    if key.endswith((".yaml", ".yml")) or Path(key).is_file():
        from hwnas.core.yaml_io import load_space_file

        return load_space_file(key)
    raise UnknownNameError(f"unknown search space {key!r}; known: {', '.join(names())} (or a YAML file)")


# AutoFormer's published spaces: 224x224, patch 16, 1000 classes, head dim 64, relative position,
# mean-pooled patch tokens.
@register("autoformer-tiny")
def _tiny() -> SearchSpace:
    return SearchSpace(
        embed_dim=(192, 216, 240),
        depth=(12, 13, 14),
        mlp_ratio=(3.5, 4.0),
        num_heads=(3, 4),
        super_embed_dim=256,
        super_depth=14,
        super_mlp_ratio=4.0,
        super_num_heads=4,
        name="autoformer-tiny",
    )


@register("autoformer-small")
def _small() -> SearchSpace:
    return SearchSpace(
        embed_dim=(320, 384, 448),
        depth=(12, 13, 14),
        mlp_ratio=(3.0, 3.5, 4.0),
        num_heads=(5, 6, 7),
        super_embed_dim=448,
        super_depth=14,
        super_mlp_ratio=4.0,
        super_num_heads=7,
        name="autoformer-small",
    )


@register("autoformer-base")
def _base() -> SearchSpace:
    return SearchSpace(
        embed_dim=(528, 576, 624),
        depth=(14, 15, 16),
        mlp_ratio=(3.0, 3.5, 4.0),
        num_heads=(9, 10),
        super_embed_dim=640,
        super_depth=16,
        super_mlp_ratio=4.0,
        super_num_heads=10,
        name="autoformer-base",
    )


# Sized for the bundled MNIST sample (28x28, one channel, 10 classes) and a laptop CPU: 7x7 patches of
# 4x4 pixels, head dim 32. On 2 cores its subnets span several times in latency (see README).
@register("mnist-cpu")
def _mnist() -> SearchSpace:
    return SearchSpace(
        embed_dim=(96, 128, 160, 192),
        depth=(4, 5, 6, 7, 8),
        mlp_ratio=(2.0, 3.0, 4.0),
        num_heads=(2, 3, 4),
        super_embed_dim=192,
        super_depth=8,
        super_mlp_ratio=4.0,
        super_num_heads=4,
        img_size=28,
        patch_size=4,
        in_chans=1,
        num_classes=10,
        head_dim=32,
        max_relative_position=14,
        name="mnist-cpu",
    )
