"""Accuracy of any subnet with the weights it inherits from the supernet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwnas.core.config import SubnetConfig

if TYPE_CHECKING:
    from hwnas.supernet.supernet import Supernet


@torch.no_grad()
def evaluate(
    net: nn.Module, cfg: SubnetConfig | None, loader: Iterable[tuple[Tensor, Tensor]], device: str = "cpu"
) -> dict[str, float | int]:
    """top1 / top5 (percent), mean cross-entropy ``loss`` and image count ``n`` of ``net`` over
    ``loader``. With ``cfg``, ``net`` (a Supernet) is first set to that subnet; any module works
    without. The module's train/eval mode is restored afterwards."""
    was_training = net.training
    if cfg is not None:
        cast("Supernet", net).set_config(cfg)
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
