"""Accuracy of any subnet with the weights it inherits from the supernet."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace


@torch.no_grad()
def evaluate(net: nn.Module, cfg: SubnetConfig | None, loader: Iterable[tuple[Tensor, Tensor]],
             device: str = "cpu") -> dict[str, float | int]:
    """top1 / top5 (percent), mean cross-entropy ``loss`` and image count ``n`` of ``net`` over
    ``loader``. With ``cfg``, ``net`` (a Supernet) is first set to that subnet; any module works
    without. The module's train/eval mode is restored afterwards."""
    was_training = net.training
    if cfg is not None:
        net.set_config(cfg)
    net.eval()
    correct1 = correct5 = n = 0
    loss_sum = 0.0
    try:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = net(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            hit = top == y[:, None]
            correct1 += int(hit[:, 0].sum())
            correct5 += int(hit.any(dim=1).sum())
            n += y.shape[0]
    finally:
        net.train(was_training)
    if n == 0:
        return {"top1": float("nan"), "top5": float("nan"), "loss": float("nan"), "n": 0}
    return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "loss": loss_sum / n, "n": n}


def evaluate_checkpoint(checkpoint: str | Path, subnet: str | SubnetConfig = "max", split: str = "val",
                        data: str | None = None, space: SearchSpace | None = None,
                        batch_size: int = 256) -> dict[str, Any]:
    """Load a supernet checkpoint and evaluate one subnet ('max', 'min', a RETRAIN YAML or a config)
    on one split of ``data`` (default: the data set the checkpoint was trained on, else 'mnist')."""
    from hwnas.data import batches, check_split, load_split
    from hwnas.pipelines.export import resolve_subnet
    from hwnas.supernet.checkpoint import load_supernet

    check_split(split)
    net, ckpt = load_supernet(checkpoint, space)
    cfg = resolve_subnet(net.space, subnet)
    train_state = ckpt.get("train") if isinstance(ckpt.get("train"), dict) else {}
    data = data or train_state.get("data") or "mnist"
    ds = load_split(data, split, net.space)
    result = evaluate(net, cfg, batches(ds, None, batch_size))
    return {**result, "split": split, "data": data, "key": cfg.key(), "space": net.space.name,
            "params": sum(p.numel() for p in net.extract(cfg).parameters()), "checkpoint": str(checkpoint)}
