"""Analytic parameter and multiply-accumulate counts of subnets, without building a model.

One implementation, over numpy arrays: a batch of configs (:class:`Batch`, one row per config, per-layer
arrays padded to the supernet depth) goes through the formulas at C speed, and one config is a
batch of one. Parameters are counted as AutoFormer counts them: every sliced weight and bias, the
relative-position tables sliced to the head dim, the class token and the position embedding.
MACs count every multiply-accumulate of one image's forward pass: the patch-embedding convolution,
the linear layers, the two attention products, the two relative-position products, and the head.
Normalisation, softmax, GELU and additions are not MACs and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from operator import attrgetter
from typing import Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace

LAYER_MACS = ("qkv_macs", "attn_matmul_macs", "proj_macs", "mlp_macs")


@dataclass(frozen=True)
class Batch:
    """A batch of configs as arrays; per-layer arrays are padded with zeros to the supernet depth."""

    embed: np.ndarray  # (n,) float
    depth: np.ndarray  # (n,) float
    mlp: np.ndarray  # (n, D) float, 0 beyond depth
    heads: np.ndarray  # (n, D) float, 0 beyond depth
    mask: np.ndarray  # (n, D) bool, True for the layers a config has

    def __len__(self) -> int:
        return len(self.embed)

    def take(self, idx: np.ndarray | Sequence[int]) -> Batch:
        """The sub-batch of rows ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        return Batch(self.embed[idx], self.depth[idx], self.mlp[idx], self.heads[idx], self.mask[idx])

    @cached_property
    def hidden(self) -> np.ndarray:
        """fc1 width per layer, int(E * ratio) exactly as SubnetConfig.mlp_hidden."""
        return np.trunc(self.embed[:, None] * self.mlp) * self.mask


def _arrays(configs: Sequence[SubnetConfig], D: int) -> Batch:
    n = len(configs)
    embed = np.fromiter(map(attrgetter("embed_dim"), configs), np.float64, n)
    depth = np.fromiter(map(attrgetter("depth"), configs), np.float64, n)
    mask = np.arange(D)[None, :] < depth[:, None]
    total = int(depth.sum())
    mlp, heads = np.zeros((n, D)), np.zeros((n, D))
    mlp[mask] = np.fromiter(chain.from_iterable(map(attrgetter("mlp_ratio"), configs)), np.float64, total)
    heads[mask] = np.fromiter(chain.from_iterable(map(attrgetter("num_heads"), configs)), np.float64, total)
    return Batch(embed, depth, mlp, heads, mask)


def to_batch(space: SearchSpace, configs: Sequence[SubnetConfig]) -> Batch:
    """Turn configs into arrays with a handful of C-speed passes (no per-layer Python code)."""
    D = space.super_depth
    deepest = max((c.depth for c in configs), default=0)
    if deepest > D:
        raise ConfigError(f"a subnet has depth {deepest}, deeper than the supernet of space {space.name!r} ({D})")
    return _arrays(configs, D)


def layer_macs(space: SearchSpace, b: Batch) -> dict[str, np.ndarray]:
    """Per-layer MACs (n, D) by kind (:data:`LAYER_MACS`); zero beyond a config's depth."""
    N, hd = space.num_tokens, space.head_dim
    E = b.embed[:, None]
    qd = b.heads * hd
    products = 4 if space.relative_position else 2  # q.k^T and attn.v, plus both relative-position products
    return {
        "qkv_macs": N * E * 3 * qd,
        "attn_matmul_macs": products * N * N * qd,
        "proj_macs": N * qd * E,
        "mlp_macs": 2 * N * E * b.hidden,
    }


def layer_params(space: SearchSpace, b: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer attention and MLP parameters (n, D) each; zero beyond a config's depth."""
    E, hd = b.embed[:, None], space.head_dim
    qd, hidden = b.heads * hd, b.hidden
    bias = 3 * qd if space.qkv_bias else 0
    rel = 4 * (2 * space.max_relative_position + 2) * hd if space.relative_position else 0
    attn = 3 * qd * E + bias + rel + qd * E + E + 2 * E  # qkv, tables, proj, LN
    mlp = E * hidden + hidden + hidden * E + E + 2 * E  # fc1, fc2, LN
    return attn * b.mask, mlp * b.mask


def stem_head(space: SearchSpace, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and MACs outside the blocks (patch embedding, tokens, final norm, head) per embed dim."""
    patch_w = E * space.in_chans * space.patch_size**2
    params = patch_w + E + E * (space.num_patches + 2) + 2 * E + E * space.num_classes + space.num_classes
    macs = space.num_patches * patch_w + E * space.num_classes
    return params, macs


def params_macs(space: SearchSpace, b: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Total parameters and MACs per config of the batch (float64, exact integers)."""
    stem_p, stem_m = stem_head(space, b.embed)
    attn_p, mlp_p = layer_params(space, b)
    return stem_p + (attn_p + mlp_p).sum(1), stem_m + np.sum(list(layer_macs(space, b).values()), axis=0).sum(1)


@dataclass(frozen=True)
class LayerCost:
    """Per-layer costs of one transformer block (per image)."""

    attn_params: int
    mlp_params: int
    qkv_macs: int
    attn_matmul_macs: int  # q.k^T and attn.v, plus both relative-position products
    proj_macs: int
    mlp_macs: int

    @property
    def macs(self) -> int:
        return self.qkv_macs + self.attn_matmul_macs + self.proj_macs + self.mlp_macs

    @property
    def params(self) -> int:
        return self.attn_params + self.mlp_params


def _one(space: SearchSpace, cfg: SubnetConfig) -> Batch:
    return _arrays([cfg], max(space.super_depth, cfg.depth))


def layer_costs(space: SearchSpace, cfg: SubnetConfig) -> list[LayerCost]:
    """The costs of each of ``cfg``'s blocks."""
    b = _one(space, cfg)
    attn_p, mlp_p = layer_params(space, b)
    macs = layer_macs(space, b)
    cols = [attn_p[0], mlp_p[0], *(macs[k][0] for k in LAYER_MACS)]
    return [LayerCost(*(int(round(c[i])) for c in cols)) for i in range(cfg.depth)]


def count_params(space: SearchSpace, cfg: SubnetConfig) -> int:
    return int(round(params_macs(space, _one(space, cfg))[0][0]))


def count_macs(space: SearchSpace, cfg: SubnetConfig) -> int:
    return int(round(params_macs(space, _one(space, cfg))[1][0]))
