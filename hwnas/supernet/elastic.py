"""Elastic ops: each holds the largest weight, computes with the active prefix slice, and builds
its static twin (a plain torch module holding copies of just that slice)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ElasticLinear(nn.Linear):
    """``W[:out, :in]``, ``b[:out]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.active_in, self.active_out = in_features, out_features

    def set_active(self, in_features: int, out_features: int) -> None:
        self.active_in, self.active_out = in_features, out_features

    def active_weight(self) -> tuple[Tensor, Tensor | None]:
        w = self.weight[: self.active_out, : self.active_in]
        return w, None if self.bias is None else self.bias[: self.active_out]

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, *self.active_weight())

    def to_static(self) -> nn.Linear:
        w, b = self.active_weight()
        lin = nn.Linear(self.active_in, self.active_out, bias=b is not None)
        with torch.no_grad():
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(b)
        return lin


class ElasticQKV(ElasticLinear):
    """AutoFormer's qkv: rows interleaved in storage (row 3j = q_j, 3j+1 = k_j, 3j+2 = v_j) and
    regrouped to [q | k | v] when sliced, while the bias is the contiguous prefix ``b[:out]``."""

    def active_weight(self) -> tuple[Tensor, Tensor | None]:
        w = self.weight[: self.active_out, : self.active_in]
        w = w.reshape(self.active_out // 3, 3, self.active_in).transpose(0, 1).reshape(self.active_out, -1)
        return w, None if self.bias is None else self.bias[: self.active_out]


class ElasticLayerNorm(nn.LayerNorm):
    """``gamma[:E]``, ``beta[:E]``, eps 1e-5."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, eps=1e-5)
        self.active_dim = dim

    def set_active(self, dim: int) -> None:
        self.active_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        d = self.active_dim
        return F.layer_norm(x, (d,), self.weight[:d], self.bias[:d], self.eps)

    def to_static(self) -> nn.LayerNorm:
        ln = nn.LayerNorm(self.active_dim, eps=self.eps)
        with torch.no_grad():
            ln.weight.copy_(self.weight[: self.active_dim])
            ln.bias.copy_(self.bias[: self.active_dim])
        return ln


class ElasticPatchEmbed(nn.Module):
    """Conv patch embedding whose output channels are sliced to the active embed dim."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.active_dim = embed_dim

    def set_active(self, dim: int) -> None:
        self.active_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        d = self.active_dim
        assert self.proj.bias is not None  # made with a bias
        x = F.conv2d(x, self.proj.weight[:d], self.proj.bias[:d], stride=self.proj.stride)
        return x.flatten(2).transpose(1, 2)

    def to_static(self) -> nn.Conv2d:
        d, p = self.active_dim, self.proj
        # torch types Conv2d's kernel_size/stride attributes as tuple[int, ...], its arguments as tuple[int, int]
        conv = nn.Conv2d(p.in_channels, d, kernel_size=p.kernel_size, stride=p.stride)  # type: ignore[arg-type]
        assert conv.bias is not None and p.bias is not None  # both made with a bias
        with torch.no_grad():
            conv.weight.copy_(p.weight[:d])
            conv.bias.copy_(p.bias[:d])
        return conv
