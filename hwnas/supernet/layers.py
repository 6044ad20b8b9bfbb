"""Pieces shared by the supernet and its static twins: attention math, relative position, drop path.

Both the elastic supernet and the extracted static ViT call these, so the two compute the same
numbers by construction; only where the weights come from differs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def relative_position_index(num_patches: int, max_rel: int) -> tuple[Tensor, Tensor]:
    """AutoFormer's 2-D relative-position indices for ``num_patches`` + 1 tokens (class token first).

    Row and column distances between patches on the side x side grid are clipped to +-max_rel and
    shifted by max_rel + 1; the class token's row and column use index 0.
    """
    side = int(num_patches**0.5)
    pos = torch.arange(num_patches)
    rows, cols = pos // side, pos % side
    dv = (rows[None, :] - rows[:, None]).clamp(-max_rel, max_rel) + max_rel + 1
    dh = (cols[None, :] - cols[:, None]).clamp(-max_rel, max_rel) + max_rel + 1
    return F.pad(dv, (1, 0, 1, 0)), F.pad(dh, (1, 0, 1, 0))


def sincos_position_embedding(side: int, dim: int) -> Tensor:
    """(side*side, dim) fixed 2-D sine/cosine codes of the patch grid, laid out so that every channel
    prefix (the slice a smaller embed dim inherits) holds both axes, both phases and a spread of
    wavelengths: channel c codes axis c % 2, sin or cos by (c // 2) % 2, and a wavelength between 2
    patches and twice the grid picked by a golden-ratio sequence over c // 4.

    Used to initialise the learned position embedding: with the usual near-zero initialisation, the
    blank patches of small images are identical tokens and a ViT first spends hundreds of steps
    learning where each patch is.
    """
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    grid = torch.stack([rows.flatten(), cols.flatten()], dim=1).float()  # (N, 2)
    ch = torch.arange(dim)
    golden = (5**0.5 - 1) / 2
    wavelength = 2.0 * float(side) ** ((ch // 4 * golden) % 1.0)  # 2 .. 2*side patches
    angle = 2 * math.pi * grid[:, ch % 2] / wavelength
    return torch.where((ch // 2) % 2 == 0, torch.sin(angle), torch.cos(angle))


class RelativePosition2D(nn.Module):
    """One pair of tables (vertical, horizontal), each (2*max_rel + 2, head_dim); AutoFormer's key names.

    The tables are never sliced: the head dim is fixed, so supernet and subnet share this module type.
    """

    index_v: Tensor  # buffers (registered in __init__)
    index_h: Tensor

    def __init__(self, head_dim: int, max_rel: int, num_patches: int) -> None:
        super().__init__()
        self.embeddings_table_v = nn.Parameter(torch.zeros(2 * max_rel + 2, head_dim))
        self.embeddings_table_h = nn.Parameter(torch.zeros(2 * max_rel + 2, head_dim))
        nn.init.trunc_normal_(self.embeddings_table_v, std=0.02)
        nn.init.trunc_normal_(self.embeddings_table_h, std=0.02)
        idx_v, idx_h = relative_position_index(num_patches, max_rel)
        self.register_buffer("index_v", idx_v, persistent=False)
        self.register_buffer("index_h", idx_h, persistent=False)

    def forward(self) -> Tensor:
        """(N, N, head_dim) embeddings for every query/key token pair. An embedding lookup rather than
        ``table[index]``: on a multi-threaded CPU the backward of advanced indexing accumulates in a
        varying order, which made two trainings from one seed drift apart; embedding's does not. Both
        export as the same ONNX Gather."""
        return F.embedding(self.index_v, self.embeddings_table_v) + F.embedding(self.index_h, self.embeddings_table_h)


def attend(
    qkv: Tensor, num_heads: int, scale: float, rel_k: Tensor | None = None, rel_v: Tensor | None = None
) -> Tensor:
    """Multi-head attention from the packed projection ``qkv`` (B, N, 3*H*d), laid out [q | k | v].

    With relative position, (q . r_k) * scale is added to the logits and attn . r_v to the output,
    the same tables for every head (AutoFormer's formulation, as batched matmuls that export cleanly).
    """
    B, N, _ = qkv.shape
    q, k, v = qkv.reshape(B, N, 3, num_heads, -1).permute(2, 0, 3, 1, 4)  # each (B, H, N, d)
    attn = (q @ k.transpose(-2, -1)) * scale
    if rel_k is not None:
        q_t = q.permute(2, 0, 1, 3).reshape(N, B * num_heads, -1)  # (N, B*H, d)
        attn = attn + (q_t @ rel_k.transpose(1, 2)).transpose(0, 1).reshape(B, num_heads, N, N) * scale
    attn = attn.softmax(dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(B, N, -1)
    if rel_v is not None:
        a_t = attn.permute(2, 0, 1, 3).reshape(N, B * num_heads, N)  # (N, B*H, N)
        extra = (a_t @ rel_v).transpose(0, 1).reshape(B, num_heads, N, -1).transpose(1, 2)
        out = out + extra.reshape(B, N, -1)
    return out


class DropPath(nn.Module):
    """Stochastic depth per sample; the identity in eval mode or at rate 0."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


def pool(x: Tensor, global_pool: bool) -> Tensor:
    """Mean of the patch tokens, or the class token."""
    return x[:, 1:].mean(dim=1) if global_pool else x[:, 0]
