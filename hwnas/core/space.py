"""`SearchSpace`: the choices, the supernet's maximum dims, the geometry; sampling and variation."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError, OutOfChoicesWarning

MAX_TRIES = 100  # cap on every "draw until new/valid" loop


@dataclass(frozen=True)
class SearchSpace:
    """AutoFormer's SUPERNET + SEARCH_SPACE blocks plus the model geometry (hwnas's MODEL block)."""

    embed_dim: tuple[int, ...]
    depth: tuple[int, ...]
    mlp_ratio: tuple[float, ...]
    num_heads: tuple[int, ...]
    super_embed_dim: int
    super_depth: int
    super_mlp_ratio: float
    super_num_heads: int
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    head_dim: int = 64
    qkv_bias: bool = True
    relative_position: bool = True
    max_relative_position: int = 14
    global_pool: bool = True
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        for f in ("embed_dim", "depth", "num_heads"):
            object.__setattr__(self, f, tuple(sorted({int(v) for v in getattr(self, f)})))
        object.__setattr__(self, "mlp_ratio", tuple(sorted({float(v) for v in self.mlp_ratio})))
        if not all((self.embed_dim, self.depth, self.mlp_ratio, self.num_heads)):
            raise ConfigError("every search-space dimension needs at least one choice")
        if self.img_size % self.patch_size:
            raise ConfigError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.max_relative_position < 1 or self.head_dim < 1 or self.num_classes < 1:
            raise ConfigError("head_dim, num_classes and max_relative_position must be positive")
        beyond = [
            f
            for f, m in (
                ("embed_dim", self.super_embed_dim),
                ("depth", self.super_depth),
                ("num_heads", self.super_num_heads),
                ("mlp_ratio", self.super_mlp_ratio),
            )
            if max(getattr(self, f)) > m
        ]
        if beyond:
            raise ConfigError(f"search-space choices exceed the supernet maximum in {', '.join(beyond)}")

    # geometry ------------------------------------------------------------------------------
    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    @property
    def num_tokens(self) -> int:
        return self.num_patches + 1

    @property
    def super_mlp_hidden(self) -> int:
        return int(self.super_embed_dim * self.super_mlp_ratio)

    @property
    def super_qkv_dim(self) -> int:
        """Width of q (and of k, of v) in the supernet: heads x head dim, independent of embed dim."""
        return self.super_num_heads * self.head_dim

    def digest(self) -> str:
        """Hash of everything that changes the models of this space (not its name)."""
        d = asdict(self)
        d.pop("name")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    # configs -------------------------------------------------------------------------------
    def max_config(self) -> SubnetConfig:
        d = max(self.depth)
        return SubnetConfig(max(self.embed_dim), d, (max(self.mlp_ratio),) * d, (max(self.num_heads),) * d)

    def min_config(self) -> SubnetConfig:
        d = min(self.depth)
        return SubnetConfig(min(self.embed_dim), d, (min(self.mlp_ratio),) * d, (min(self.num_heads),) * d)

    def supernet_config(self) -> SubnetConfig:
        """The whole supernet as a config (may lie outside the choices)."""
        d = self.super_depth
        return SubnetConfig(self.super_embed_dim, d, (self.super_mlp_ratio,) * d, (self.super_num_heads,) * d)

    def in_choices(self, cfg: SubnetConfig) -> bool:
        return (
            cfg.embed_dim in self.embed_dim
            and cfg.depth in self.depth
            and all(r in self.mlp_ratio for r in cfg.mlp_ratio)
            and all(h in self.num_heads for h in cfg.num_heads)
        )

    def check_fits(self, cfg: SubnetConfig) -> None:
        """Raise ConfigError if ``cfg`` exceeds the supernet's maximum dims."""
        problems = []
        if cfg.embed_dim > self.super_embed_dim:
            problems.append(f"embed_dim {cfg.embed_dim} > {self.super_embed_dim}")
        if cfg.depth > self.super_depth:
            problems.append(f"depth {cfg.depth} > {self.super_depth}")
        if max(cfg.num_heads) > self.super_num_heads:
            problems.append(f"num_heads {max(cfg.num_heads)} > {self.super_num_heads}")
        if not problems:  # a huge embed dim or ratio would overflow the width's integer
            widest = max(cfg.embed_dim * r for r in cfg.mlp_ratio)
            if not widest < self.super_mlp_hidden + 1:  # i.e. int(widest) > super_mlp_hidden
                problems.append(f"MLP width {widest:.0f} > {self.super_mlp_hidden}")
        if problems:
            raise ConfigError(f"subnet {cfg.key()} exceeds the supernet of space {self.name!r}: " + "; ".join(problems))

    def validate(self, cfg: SubnetConfig) -> SubnetConfig:
        """Error beyond the supernet; a warning (accepted) outside the choices. Returns ``cfg``."""
        self.check_fits(cfg)
        if not self.in_choices(cfg):
            warnings.warn(
                f"subnet {cfg.key()} lies outside the choices of space {self.name!r} "
                "(accepted for inspection and export; search never proposes it)",
                OutOfChoicesWarning,
                stacklevel=2,
            )
        return cfg

    # sampling and variation ----------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> SubnetConfig:
        """Uniform over each dimension's choices, layer by layer (AutoFormer's sampler)."""
        depth = int(rng.choice(self.depth))
        return SubnetConfig(
            embed_dim=int(rng.choice(self.embed_dim)),
            depth=depth,
            mlp_ratio=tuple(float(rng.choice(self.mlp_ratio)) for _ in range(depth)),
            num_heads=tuple(int(rng.choice(self.num_heads)) for _ in range(depth)),
        )

    def mutate(
        self,
        cfg: SubnetConfig,
        rng: np.random.Generator,
        *,
        layer_prob: float = 0.2,
        depth_prob: float = 0.4,
        embed_prob: float = 0.4,
    ) -> SubnetConfig:
        """AutoFormer's mutation: depth and embed dim each with ``*_prob``, every layer gene with
        ``layer_prob``; layers added by a deeper depth are drawn at random."""
        depth, mlp, heads = cfg.depth, list(cfg.mlp_ratio), list(cfg.num_heads)
        if rng.random() < depth_prob:
            depth = int(rng.choice(self.depth))
            while len(mlp) < depth:
                mlp.append(float(rng.choice(self.mlp_ratio)))
                heads.append(int(rng.choice(self.num_heads)))
            mlp, heads = mlp[:depth], heads[:depth]
        for i in range(depth):
            if rng.random() < layer_prob:
                mlp[i] = float(rng.choice(self.mlp_ratio))
            if rng.random() < layer_prob:
                heads[i] = int(rng.choice(self.num_heads))
        embed = int(rng.choice(self.embed_dim)) if rng.random() < embed_prob else cfg.embed_dim
        return SubnetConfig(embed, depth, tuple(mlp), tuple(heads))

    def crossover(self, a: SubnetConfig, b: SubnetConfig, rng: np.random.Generator) -> SubnetConfig:
        """Each gene from either parent; layers only one parent has come from that parent."""
        depth = a.depth if rng.random() < 0.5 else b.depth
        embed = a.embed_dim if rng.random() < 0.5 else b.embed_dim
        mlp, heads = [], []
        for i in range(depth):
            owners = [p for p in (a, b) if i < p.depth]
            mlp.append(owners[int(rng.integers(len(owners)))].mlp_ratio[i])
            heads.append(owners[int(rng.integers(len(owners)))].num_heads[i])
        return SubnetConfig(embed, depth, tuple(mlp), tuple(heads))

    def sample_unique(self, n: int, rng: np.random.Generator, exclude: set[str] | None = None) -> list[SubnetConfig]:
        """Up to ``n`` distinct configs whose keys are not in ``exclude`` (fewer if the space runs out)."""
        seen = set(exclude or ())
        out: list[SubnetConfig] = []
        misses = 0
        while len(out) < n and misses < MAX_TRIES:
            cfg = self.sample(rng)
            if cfg.key() in seen:
                misses += 1
                continue
            misses = 0
            seen.add(cfg.key())
            out.append(cfg)
        return out

    def size(self) -> int:
        """Number of distinct configs in the space."""
        per_layer = len(self.mlp_ratio) * len(self.num_heads)
        return len(self.embed_dim) * sum(per_layer**d for d in self.depth)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
