"""`SubnetConfig`: one architecture of the supernet, and AutoFormer's RETRAIN block in and out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from hwnas.core.errors import ConfigError


def _fmt_ratio(r: float) -> str:
    return format(float(r), "g")


@dataclass(frozen=True)
class SubnetConfig:
    """A subnet: one embedding dim for all layers, ``depth`` layers, per-layer MLP ratio and heads."""

    embed_dim: int
    depth: int
    mlp_ratio: tuple[float, ...]
    num_heads: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mlp_ratio", tuple(float(r) for r in self.mlp_ratio))
        object.__setattr__(self, "num_heads", tuple(int(h) for h in self.num_heads))
        if isinstance(self.embed_dim, bool) or int(self.embed_dim) != self.embed_dim:
            raise ConfigError(f"embed_dim must be an integer, got {self.embed_dim!r}")
        if isinstance(self.depth, bool) or int(self.depth) != self.depth:
            raise ConfigError(f"depth must be an integer, got {self.depth!r}")
        object.__setattr__(self, "embed_dim", int(self.embed_dim))
        object.__setattr__(self, "depth", int(self.depth))
        if self.embed_dim < 1 or self.depth < 1:
            raise ConfigError(f"embed_dim and depth must be positive, got {self.embed_dim}, {self.depth}")
        if len(self.mlp_ratio) != self.depth or len(self.num_heads) != self.depth:
            raise ConfigError(
                f"mlp_ratio ({len(self.mlp_ratio)}) and num_heads ({len(self.num_heads)}) "
                f"must both have depth = {self.depth} entries"
            )
        if any(not math.isfinite(r) or r <= 0 for r in self.mlp_ratio):
            raise ConfigError(f"mlp ratios must be positive, got {list(self.mlp_ratio)}")
        if any(h < 1 for h in self.num_heads):
            raise ConfigError(f"head counts must be positive, got {list(self.num_heads)}")

    def key(self) -> str:
        """A stable, readable identifier: equal configs give equal keys across processes and versions."""
        mlp = ",".join(_fmt_ratio(r) for r in self.mlp_ratio)
        heads = ",".join(str(h) for h in self.num_heads)
        return f"e{self.embed_dim}-d{self.depth}-m{mlp}-h{heads}"

    def mlp_hidden(self, layer: int) -> int:
        """fc1 width of a layer, exactly as AutoFormer computes it."""
        return int(self.embed_dim * self.mlp_ratio[layer])

    def to_dict(self) -> dict[str, Any]:
        return {
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "mlp_ratio": list(self.mlp_ratio),
            "num_heads": list(self.num_heads),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SubnetConfig:
        try:
            return cls(
                embed_dim=d["embed_dim"],
                depth=d["depth"],
                mlp_ratio=tuple(d["mlp_ratio"]),
                num_heads=tuple(d["num_heads"]),
            )
        except KeyError as e:
            raise ConfigError(f"subnet config lacks {e.args[0]!r}") from None
        except TypeError as e:
            raise ConfigError(f"malformed subnet config: {e}") from None

    @classmethod
    def from_key(cls, key: str) -> SubnetConfig:
        """Inverse of :meth:`key`."""
        try:
            e, d, m, h = key.split("-")
            assert e[0] == "e" and d[0] == "d" and m[0] == "m" and h[0] == "h"
            return cls(int(e[1:]), int(d[1:]), tuple(float(x) for x in m[1:].split(",")),
                       tuple(int(x) for x in h[1:].split(",")))
        except (ValueError, AssertionError, IndexError):
            raise ConfigError(f"not a subnet key: {key!r}") from None

    def to_retrain(self) -> dict[str, Any]:
        """AutoFormer's RETRAIN block."""
        return {
            "DEPTH": self.depth,
            "EMBED_DIM": self.embed_dim,
            "MLP_RATIO": [float(r) for r in self.mlp_ratio],
            "NUM_HEADS": list(self.num_heads),
        }

    @classmethod
    def from_retrain(cls, block: Mapping[str, Any]) -> SubnetConfig:
        if not isinstance(block, Mapping):
            raise ConfigError("RETRAIN must be a mapping with DEPTH, EMBED_DIM, MLP_RATIO, NUM_HEADS")
        missing = [k for k in ("DEPTH", "EMBED_DIM", "MLP_RATIO", "NUM_HEADS") if k not in block]
        if missing:
            raise ConfigError(f"RETRAIN block lacks {', '.join(missing)}")
        mlp, heads = block["MLP_RATIO"], block["NUM_HEADS"]
        if not isinstance(mlp, Sequence) or not isinstance(heads, Sequence):
            raise ConfigError("RETRAIN MLP_RATIO and NUM_HEADS must be lists, one entry per layer")
        return cls(embed_dim=block["EMBED_DIM"], depth=block["DEPTH"],
                   mlp_ratio=tuple(mlp), num_heads=tuple(heads))
