"""Analytic parameter and multiply-accumulate counts of a subnet, without building a model.

Parameters are counted as AutoFormer counts them: every sliced weight and bias, the relative-position
tables sliced to the head dim, the class token and the position embedding.
MACs count every multiply-accumulate of one image's forward pass: the patch-embedding convolution,
the linear layers, the two attention products, the two relative-position products, and the head.
Normalisation, softmax, GELU and additions are not MACs and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace


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


def layer_costs(space: SearchSpace, cfg: SubnetConfig) -> list[LayerCost]:
    E, N, hd = cfg.embed_dim, space.num_tokens, space.head_dim
    out = []
    for i in range(cfg.depth):
        qd = cfg.num_heads[i] * hd
        hidden = cfg.mlp_hidden(i)
        bias = 3 * qd if space.qkv_bias else 0
        rel_tables = 4 * (2 * space.max_relative_position + 2) * hd if space.relative_position else 0
        attn_params = 3 * qd * E + bias + rel_tables + qd * E + E + 2 * E  # qkv, tables, proj, LN
        mlp_params = E * hidden + hidden + hidden * E + E + 2 * E  # fc1, fc2, LN
        products = 4 if space.relative_position else 2
        out.append(LayerCost(
            attn_params=attn_params,
            mlp_params=mlp_params,
            qkv_macs=N * E * 3 * qd,
            attn_matmul_macs=products * N * N * qd,
            proj_macs=N * qd * E,
            mlp_macs=2 * N * E * hidden,
        ))
    return out


def _stem_head(space: SearchSpace, E: int) -> tuple[int, int]:
    patch_w = E * space.in_chans * space.patch_size ** 2
    params = patch_w + E + E * (space.num_patches + 2) + 2 * E + E * space.num_classes + space.num_classes
    macs = space.num_patches * patch_w + E * space.num_classes
    return params, macs


def count_params(space: SearchSpace, cfg: SubnetConfig) -> int:
    return _stem_head(space, cfg.embed_dim)[0] + sum(c.params for c in layer_costs(space, cfg))


def count_macs(space: SearchSpace, cfg: SubnetConfig) -> int:
    return _stem_head(space, cfg.embed_dim)[1] + sum(c.macs for c in layer_costs(space, cfg))
