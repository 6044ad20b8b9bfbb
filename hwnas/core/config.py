"""`SubnetConfig`: one architecture of the supernet, and AutoFormer's RETRAIN block in and out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from hwnas.core.errors import ConfigError
from hwnas.core.validate import integer, integers, number, numbers_


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
        object.__setattr__(self, "embed_dim", integer(self.embed_dim, "embed_dim"))
        object.__setattr__(self, "depth", integer(self.depth, "depth"))
        for name in ("mlp_ratio", "num_heads"):
            if isinstance(getattr(self, name), (str, bytes)) or not isinstance(getattr(self, name), Iterable):
                raise ConfigError(f"{name} must be a list with one entry per layer, got {getattr(self, name)!r}")
        mlp, heads = tuple(self.mlp_ratio), tuple(self.num_heads)
        if len(mlp) != self.depth or len(heads) != self.depth:
            raise ConfigError(
                f"mlp_ratio ({len(mlp)}) and num_heads ({len(heads)}) must both have depth = {self.depth} entries"
            )
        object.__setattr__(self, "mlp_ratio", tuple(number(r, f"mlp_ratio[{i}]") for i, r in enumerate(mlp)))
        object.__setattr__(self, "num_heads", tuple(integer(h, f"num_heads[{i}]") for i, h in enumerate(heads)))

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
            return cls(
                int(e[1:]),
                int(d[1:]),
                tuple(float(x) for x in m[1:].split(",")),
                tuple(int(x) for x in h[1:].split(",")),
            )
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
        """AutoFormer's RETRAIN block, every value checked for its type (a ConfigError names the key)."""
        if not isinstance(block, Mapping):
            raise ConfigError("RETRAIN must be a mapping with DEPTH, EMBED_DIM, MLP_RATIO, NUM_HEADS")
        missing = [k for k in ("DEPTH", "EMBED_DIM", "MLP_RATIO", "NUM_HEADS") if k not in block]
        if missing:
            raise ConfigError(f"RETRAIN block lacks {', '.join(missing)}")
        depth = integer(block["DEPTH"], "RETRAIN.DEPTH")
        embed = integer(block["EMBED_DIM"], "RETRAIN.EMBED_DIM")
        mlp = numbers_(block["MLP_RATIO"], "RETRAIN.MLP_RATIO")
        heads = integers(block["NUM_HEADS"], "RETRAIN.NUM_HEADS")
        return cls(embed_dim=embed, depth=depth, mlp_ratio=tuple(mlp), num_heads=tuple(heads))
