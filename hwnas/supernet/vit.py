"""The ViT building blocks, written once and used by both the supernet (with elastic submodules)
and the extracted static subnet (with plain torch submodules)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.supernet.layers import DropPath, RelativePosition2D, attend, pool


class Attention(nn.Module):
    """Packed qkv projection, multi-head attention with optional 2-D relative position, output proj."""

    def __init__(
        self,
        qkv: nn.Module,
        proj: nn.Module,
        num_heads: int,
        head_dim: int,
        rel_k: RelativePosition2D | None,
        rel_v: RelativePosition2D | None,
    ) -> None:
        super().__init__()
        self.qkv, self.proj = qkv, proj
        self.rel_pos_embed_k, self.rel_pos_embed_v = rel_k, rel_v
        self.num_heads = num_heads
        self.scale = head_dim**-0.5

    def forward(self, x: Tensor) -> Tensor:
        rk = self.rel_pos_embed_k() if self.rel_pos_embed_k is not None else None
        rv = self.rel_pos_embed_v() if self.rel_pos_embed_v is not None else None
        return self.proj(attend(self.qkv(x), self.num_heads, self.scale, rk, rv))


class Block(nn.Module):
    """Pre-norm block: x + attn(LN(x)), then x + fc2(GELU(fc1(LN(x)))); AutoFormer's key names."""

    def __init__(
        self,
        attn: Attention,
        attn_layer_norm: nn.Module,
        ffn_layer_norm: nn.Module,
        fc1: nn.Module,
        fc2: nn.Module,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.attn, self.attn_layer_norm, self.ffn_layer_norm = attn, attn_layer_norm, ffn_layer_norm
        self.fc1, self.fc2 = fc1, fc2
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.attn_layer_norm(x)))
        return x + self.drop_path(self.fc2(F.gelu(self.fc1(self.ffn_layer_norm(x)))))


class PatchEmbed(nn.Module):
    """Static patch embedding: conv, then tokens (B, N, E)."""

    def __init__(self, proj: nn.Conv2d) -> None:
        super().__init__()
        self.proj = proj

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class StaticViT(nn.Module):
    """A plain ViT for one subnet: fixed shapes, only that subnet's weights, no slicing at run time."""

    def __init__(
        self,
        space: SearchSpace,
        config: SubnetConfig,
        patch_embed: PatchEmbed,
        cls_token: Tensor,
        pos_embed: Tensor,
        blocks: list[Block],
        norm: nn.LayerNorm,
        head: nn.Linear,
    ) -> None:
        super().__init__()
        self.space, self.config = space, config
        self.patch_embed = patch_embed
        self.cls_token = nn.Parameter(cls_token)
        self.pos_embed = nn.Parameter(pos_embed)
        self.blocks = nn.ModuleList(blocks)
        self.norm, self.head = norm, head

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(pool(self.norm(x), self.space.global_pool))
