"""Features of a subnet from its `SubnetConfig` and `SearchSpace` alone, vectorised over a batch.

Two views of a batch:
- ``feature_matrix``: one row per config: the architecture encoding (embed dim, depth, per-layer MLP
  ratio and heads padded with zeros to the supernet depth) plus analytic quantities (params, MACs,
  per-layer attention and MLP MACs, token count, widths).
- ``layer_tensor``: per-layer cost features (n, depth, k) with a mask, for the additive model.

The analytic quantities come from ``hwnas.core.complexity`` (the one implementation of the cost
formulas, vectorised: 100,000 configs take a fraction of a second).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hwnas.core.complexity import Batch, layer_macs, params_macs, stem_head, to_batch
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace

__all__ = ["Batch", "to_batch", "params_macs", "feature_names", "feature_matrix", "layer_tensor", "schema"]

SCHEMA_VERSION = 1
LAYER_FEATURES = (
    "one",
    "qkv_macs",
    "attn_matmul_macs",
    "proj_macs",
    "mlp_macs",
    "tokens_x_embed",
    "softmax_elems",
    "mlp_hidden_elems",
)
STEM_FEATURES = ("one", "stem_macs", "tokens_x_embed")


def feature_names(space: SearchSpace) -> list[str]:
    D = range(space.super_depth)
    return (
        ["embed_dim", "depth"]
        + [f"mlp_ratio_{i}" for i in D]
        + [f"num_heads_{i}" for i in D]
        + [
            "params",
            "macs",
            "attn_macs",
            "mlp_macs",
            "qkv_macs",
            "attn_matmul_macs",
            "proj_macs",
            "num_tokens",
            "sum_heads",
            "sum_mlp_hidden",
            "max_mlp_hidden",
            "qkv_width",
        ]
        + [f"attn_macs_{i}" for i in D]
        + [f"mlp_macs_{i}" for i in D]
    )


def feature_matrix(space: SearchSpace, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
    """(n, len(feature_names(space))) float64 matrix; MAC/param columns in millions."""
    b = configs if isinstance(configs, Batch) else to_batch(space, configs)
    lm = layer_macs(space, b)
    attn = lm["qkv_macs"] + lm["attn_matmul_macs"] + lm["proj_macs"]
    params, macs = params_macs(space, b)
    hidden = b.hidden
    n = len(b.embed)
    cols = [
        b.embed[:, None],
        b.depth[:, None],
        b.mlp,
        b.heads,
        np.stack(
            [
                params / 1e6,
                macs / 1e6,
                attn.sum(1) / 1e6,
                lm["mlp_macs"].sum(1) / 1e6,
                lm["qkv_macs"].sum(1) / 1e6,
                lm["attn_matmul_macs"].sum(1) / 1e6,
                lm["proj_macs"].sum(1) / 1e6,
                np.full(n, float(space.num_tokens)),
                b.heads.sum(1),
                hidden.sum(1),
                hidden.max(1) if n else np.zeros(0),
                b.heads.max(1) * space.head_dim if n else np.zeros(0),
            ],
            axis=1,
        ),
        attn / 1e6,
        lm["mlp_macs"] / 1e6,
    ]
    return np.concatenate(cols, axis=1)


def layer_tensor(space: SearchSpace, configs: Sequence[SubnetConfig] | Batch) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer cost features (n, D, len(LAYER_FEATURES)) zeroed beyond depth, and the stem/head
    features (n, len(STEM_FEATURES)); units: MACs and elements in millions."""
    b = configs if isinstance(configs, Batch) else to_batch(space, configs)
    N = space.num_tokens
    lm = layer_macs(space, b)
    E = b.embed[:, None] * b.mask
    layer = np.stack(
        [
            b.mask.astype(np.float64),
            lm["qkv_macs"] / 1e6,
            lm["attn_matmul_macs"] / 1e6,
            lm["proj_macs"] / 1e6,
            lm["mlp_macs"] / 1e6,
            N * E / 1e6,
            N * N * b.heads / 1e6,
            N * b.hidden / 1e6,
        ],
        axis=2,
    )
    _, stem_m = stem_head(space, b.embed)
    stem = np.stack([np.ones_like(b.embed), stem_m / 1e6, N * b.embed / 1e6], axis=1)
    return layer, stem


def schema(space: SearchSpace) -> dict:
    """What a saved predictor records about its inputs."""
    return {
        "version": SCHEMA_VERSION,
        "super_depth": space.super_depth,
        "columns": feature_names(space),
        "layer_features": list(LAYER_FEATURES),
        "stem_features": list(STEM_FEATURES),
    }
