"""Features of a subnet from its `SubnetConfig` and `SearchSpace` alone, vectorised over a batch.

Two views of a batch:
- ``feature_matrix``: one row per config: the architecture encoding (embed dim, depth, per-layer MLP
  ratio and heads padded with zeros to the supernet depth) plus analytic quantities (params, MACs,
  per-layer attention and MLP MACs, token count, widths).
- ``layer_tensor``: per-layer cost features (n, depth, k) with a mask, for the additive model.

The analytic quantities follow ``hwnas.core.complexity`` formula for formula, written over numpy
arrays so that 100,000 configs take a fraction of a second (tests pin them equal to
``count_params`` / ``count_macs`` / ``layer_costs``).
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

SCHEMA_VERSION = 1
LAYER_FEATURES = ("one", "qkv_macs", "attn_matmul_macs", "proj_macs", "mlp_macs",
                  "tokens_x_embed", "softmax_elems", "mlp_hidden_elems")
STEM_FEATURES = ("one", "stem_macs", "tokens_x_embed")


@dataclass(frozen=True)
class Batch:
    """A batch of configs as arrays; per-layer arrays are padded with zeros to the supernet depth."""

    embed: np.ndarray   # (n,) float
    depth: np.ndarray   # (n,) float
    mlp: np.ndarray     # (n, D) float, 0 beyond depth
    heads: np.ndarray   # (n, D) float, 0 beyond depth
    mask: np.ndarray    # (n, D) bool, True for the layers a config has

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


def to_batch(space: SearchSpace, configs: Sequence[SubnetConfig]) -> Batch:
    """Turn configs into arrays with a handful of C-speed passes (no per-layer Python code)."""
    n = len(configs)
    D = space.super_depth
    embed = np.fromiter(map(attrgetter("embed_dim"), configs), np.float64, n)
    depth = np.fromiter(map(attrgetter("depth"), configs), np.float64, n)
    if n and depth.max() > D:
        raise ConfigError(f"a subnet has depth {int(depth.max())}, deeper than the supernet of space "
                          f"{space.name!r} ({D})")
    total = int(depth.sum())
    mask = np.arange(D)[None, :] < depth[:, None]
    mlp = np.zeros((n, D))
    heads = np.zeros((n, D))
    mlp[mask] = np.fromiter(chain.from_iterable(map(attrgetter("mlp_ratio"), configs)), np.float64, total)
    heads[mask] = np.fromiter(chain.from_iterable(map(attrgetter("num_heads"), configs)), np.float64, total)
    return Batch(embed, depth, mlp, heads, mask)


def _layer_macs(space: SearchSpace, b: Batch) -> dict[str, np.ndarray]:
    """Per-layer MACs (n, D) as in complexity.layer_costs; zero beyond a config's depth."""
    N, hd = space.num_tokens, space.head_dim
    E = b.embed[:, None]
    qd = b.heads * hd
    products = 4 if space.relative_position else 2
    return {
        "qkv_macs": N * E * 3 * qd,
        "attn_matmul_macs": products * N * N * qd,
        "proj_macs": N * qd * E,
        "mlp_macs": 2 * N * E * b.hidden,
    }


def _layer_params(space: SearchSpace, b: Batch) -> np.ndarray:
    """Per-layer parameters (n, D) as in complexity.layer_costs."""
    E, hd = b.embed[:, None], space.head_dim
    qd, hidden = b.heads * hd, b.hidden
    bias = 3 * qd if space.qkv_bias else 0
    rel = 4 * (2 * space.max_relative_position + 2) * hd if space.relative_position else 0
    attn = 3 * qd * E + bias + rel + qd * E + E + 2 * E
    mlp = E * hidden + hidden + hidden * E + E + 2 * E
    return (attn + mlp) * b.mask


def _stem_head(space: SearchSpace, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    patch_w = E * space.in_chans * space.patch_size ** 2
    params = patch_w + E + E * (space.num_patches + 2) + 2 * E + E * space.num_classes + space.num_classes
    macs = space.num_patches * patch_w + E * space.num_classes
    return params, macs


def params_macs(space: SearchSpace, b: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Total parameters and MACs per config, equal to count_params / count_macs."""
    stem_p, stem_m = _stem_head(space, b.embed)
    layer_m = sum(_layer_macs(space, b).values())
    return stem_p + _layer_params(space, b).sum(1), stem_m + layer_m.sum(1)


def feature_names(space: SearchSpace) -> list[str]:
    D = range(space.super_depth)
    return (["embed_dim", "depth"] + [f"mlp_ratio_{i}" for i in D] + [f"num_heads_{i}" for i in D]
            + ["params", "macs", "attn_macs", "mlp_macs", "qkv_macs", "attn_matmul_macs", "proj_macs",
               "num_tokens", "sum_heads", "sum_mlp_hidden", "max_mlp_hidden", "qkv_width"]
            + [f"attn_macs_{i}" for i in D] + [f"mlp_macs_{i}" for i in D])


def feature_matrix(space: SearchSpace, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
    """(n, len(feature_names(space))) float64 matrix; MAC/param columns in millions."""
    b = configs if isinstance(configs, Batch) else to_batch(space, configs)
    lm = _layer_macs(space, b)
    attn = lm["qkv_macs"] + lm["attn_matmul_macs"] + lm["proj_macs"]
    params, macs = params_macs(space, b)
    hidden = b.hidden
    n = len(b.embed)
    cols = [b.embed[:, None], b.depth[:, None], b.mlp, b.heads,
            np.stack([params / 1e6, macs / 1e6, attn.sum(1) / 1e6, lm["mlp_macs"].sum(1) / 1e6,
                      lm["qkv_macs"].sum(1) / 1e6, lm["attn_matmul_macs"].sum(1) / 1e6,
                      lm["proj_macs"].sum(1) / 1e6, np.full(n, float(space.num_tokens)),
                      b.heads.sum(1), hidden.sum(1), hidden.max(1) if n else np.zeros(0),
                      b.heads.max(1) * space.head_dim if n else np.zeros(0)], axis=1),
            attn / 1e6, lm["mlp_macs"] / 1e6]
    return np.concatenate(cols, axis=1)


def layer_tensor(space: SearchSpace, configs: Sequence[SubnetConfig] | Batch) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer cost features (n, D, len(LAYER_FEATURES)) zeroed beyond depth, and the stem/head
    features (n, len(STEM_FEATURES)); units: MACs and elements in millions."""
    b = configs if isinstance(configs, Batch) else to_batch(space, configs)
    N = space.num_tokens
    lm = _layer_macs(space, b)
    E = b.embed[:, None] * b.mask
    layer = np.stack([b.mask.astype(np.float64), lm["qkv_macs"] / 1e6, lm["attn_matmul_macs"] / 1e6,
                      lm["proj_macs"] / 1e6, lm["mlp_macs"] / 1e6, N * E / 1e6,
                      N * N * b.heads / 1e6, N * b.hidden / 1e6], axis=2)
    _, stem_m = _stem_head(space, b.embed)
    stem = np.stack([np.ones_like(b.embed), stem_m / 1e6, N * b.embed / 1e6], axis=1)
    return layer, stem


def schema(space: SearchSpace) -> dict:
    """What a saved predictor records about its inputs."""
    return {"version": SCHEMA_VERSION, "super_depth": space.super_depth, "columns": feature_names(space),
            "layer_features": list(LAYER_FEATURES), "stem_features": list(STEM_FEATURES)}
