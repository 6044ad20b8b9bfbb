"""The weight-entangled ViT supernet, numerically identical to AutoFormer's `Vision_TransformerSuper`
(change_qkv, relative position, pre-norm), with AutoFormer's state-dict key names."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.supernet.elastic import ElasticLayerNorm, ElasticLinear, ElasticPatchEmbed, ElasticQKV
from hwnas.supernet.layers import RelativePosition2D, pool, sincos_position_embedding
from hwnas.supernet.vit import Attention, Block, PatchEmbed, StaticViT

# Parameters AutoFormer exempts from weight decay (matched as name substrings).
NO_WEIGHT_DECAY = ("pos_embed", "cls_token", "rel_pos_embed")


class Supernet(nn.Module):
    """Every subnet of ``space`` is a prefix slice of this network's weights.

    ``set_config(cfg)`` selects the active subnet; ``forward`` runs it; ``extract(cfg)`` returns it as a
    :class:`StaticViT` holding copies of just its weights.
    """

    def __init__(self, space: SearchSpace, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.space = space
        E, H, hd = space.super_embed_dim, space.super_num_heads, space.head_dim
        hidden, npatch = space.super_mlp_hidden, space.num_patches
        self.patch_embed_super = ElasticPatchEmbed(space.in_chans, E, space.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, E))
        self.pos_embed = nn.Parameter(torch.zeros(1, npatch + 1, E))
        rates = torch.linspace(0, drop_path_rate, space.super_depth).tolist()
        self.blocks = nn.ModuleList()
        for rate in rates:
            rel = (
                (
                    RelativePosition2D(hd, space.max_relative_position, npatch),
                    RelativePosition2D(hd, space.max_relative_position, npatch),
                )
                if space.relative_position
                else (None, None)
            )
            qd = space.super_qkv_dim
            attn = Attention(ElasticQKV(E, 3 * qd, bias=space.qkv_bias), ElasticLinear(qd, E), H, hd, *rel)
            self.blocks.append(
                Block(
                    attn,
                    ElasticLayerNorm(E),
                    ElasticLayerNorm(E),
                    ElasticLinear(E, hidden),
                    ElasticLinear(hidden, E),
                    rate,
                )
            )
        self.norm = ElasticLayerNorm(E)
        self.head = ElasticLinear(E, space.num_classes)
        self._init_weights()
        self.config = space.supernet_config()
        self.set_config(self.config)

    def _init_weights(self) -> None:
        side = self.space.img_size // self.space.patch_size
        with torch.no_grad():  # class token's position zero, patches a fixed 2-D code (see the function)
            self.pos_embed.zero_()
            self.pos_embed[0, 1:] = sincos_position_embedding(side, self.space.super_embed_dim)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def set_config(self, cfg: SubnetConfig) -> None:
        """Make ``cfg`` the active subnet (ConfigError if it exceeds the supernet)."""
        self.space.check_fits(cfg)
        E, hd = cfg.embed_dim, self.space.head_dim
        self.patch_embed_super.set_active(E)
        blk: Any  # a Block of elastic layers (Block and Attention type their layers as nn.Module)
        for i, blk in enumerate(self.blocks[: cfg.depth]):
            qd = cfg.num_heads[i] * hd
            blk.attn_layer_norm.set_active(E)
            blk.attn.qkv.set_active(E, 3 * qd)
            blk.attn.num_heads = cfg.num_heads[i]
            blk.attn.proj.set_active(qd, E)
            blk.ffn_layer_norm.set_active(E)
            blk.fc1.set_active(E, cfg.mlp_hidden(i))
            blk.fc2.set_active(cfg.mlp_hidden(i), E)
        self.norm.set_active(E)
        self.head.set_active(E, self.space.num_classes)
        self.config = cfg

    def forward(self, x: Tensor) -> Tensor:
        E = self.config.embed_dim
        x = self.patch_embed_super(x)
        cls = self.cls_token[..., :E].expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed[..., :E]
        for blk in self.blocks[: self.config.depth]:
            x = blk(x)
        return self.head(pool(self.norm(x), self.space.global_pool))

    def extract(self, cfg: SubnetConfig | None = None) -> StaticViT:
        """The subnet ``cfg`` (default: the active one) as a static ViT with copied weights."""
        if cfg is not None:
            self.set_config(cfg)
        cfg, E = self.config, self.config.embed_dim
        blocks = []
        blk: Any  # a Block of elastic layers (Block and Attention type their layers as nn.Module)
        for blk in self.blocks[: cfg.depth]:
            a = blk.attn
            attn = Attention(
                a.qkv.to_static(),
                a.proj.to_static(),
                a.num_heads,
                self.space.head_dim,
                copy.deepcopy(a.rel_pos_embed_k),
                copy.deepcopy(a.rel_pos_embed_v),
            )
            blocks.append(
                Block(
                    attn,
                    blk.attn_layer_norm.to_static(),
                    blk.ffn_layer_norm.to_static(),
                    blk.fc1.to_static(),
                    blk.fc2.to_static(),
                    blk.drop_path.rate,
                )
            )
        static = StaticViT(
            self.space,
            cfg,
            PatchEmbed(self.patch_embed_super.to_static()),
            self.cls_token.detach()[..., :E].clone(),
            self.pos_embed.detach()[..., :E].clone(),
            blocks,
            self.norm.to_static(),
            self.head.to_static(),
        )
        static.train(self.training)
        return static

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: no decay on position embedding, class token, relative-position tables,
        biases and norm scales (AutoFormer / timm convention)."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if p.ndim <= 1 or any(k in name for k in NO_WEIGHT_DECAY):
                no_decay.append(p)
            else:
                decay.append(p)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
