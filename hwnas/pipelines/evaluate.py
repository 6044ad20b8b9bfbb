"""Checkpoint -> one subnet's accuracy with the weights it inherits: the wiring behind ``hwnas eval``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hwnas.core.config import SubnetConfig
from hwnas.core.resolve import resolve_subnet
from hwnas.core.space import SearchSpace


@dataclass
class EvalResult:
    top1: float  # percent
    top5: float  # percent
    loss: float  # mean cross-entropy
    n: int  # images
    split: str
    data: str
    key: str
    space: str
    params: int
    checkpoint: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_checkpoint(
    checkpoint: str | Path,
    subnet: str | SubnetConfig = "max",
    split: str = "val",
    data: str | None = None,
    space: SearchSpace | None = None,
    batch_size: int = 256,
) -> EvalResult:
    """Load a supernet checkpoint and evaluate one subnet ('max', 'min', a RETRAIN YAML or a config)
    on one split of ``data`` (default: the data set the checkpoint was trained on, else 'mnist')."""
    from hwnas.data import batches, check_split, load_split
    from hwnas.supernet.checkpoint import load_supernet
    from hwnas.supernet.evaluate import evaluate

    check_split(split)
    net, ckpt = load_supernet(checkpoint, space)
    cfg = resolve_subnet(net.space, subnet)
    train_state = ckpt.get("train")
    if not isinstance(train_state, dict):
        train_state = {}
    data = data or train_state.get("data") or "mnist"
    ds = load_split(data, split, net.space)
    r = evaluate(net, cfg, batches(ds, None, batch_size))
    return EvalResult(
        top1=float(r["top1"]),
        top5=float(r["top5"]),
        loss=float(r["loss"]),
        n=int(r["n"]),
        split=split,
        data=data,
        key=cfg.key(),
        space=net.space.name,
        params=sum(p.numel() for p in net.extract(cfg).parameters()),
        checkpoint=str(checkpoint),
    )
