"""A small CNN teacher for supernet training (``--teacher cnn``; DeiT: a convnet teacher makes a ViT
data-efficient).

A 3-stage CNN with its inductive bias reaches ~98 % test on the bundled MNIST in ~15 s on 2 CPU cores,
where the ViT subnets are still learning when the schedule ends. With it, the largest subnet (or the one
subnet of strategy ``single``) learns from a blend of the labels and the teacher's predictions, and the
smaller ones from the largest as before. Opt-in: on the bundled data it did not measurably help
(README, "Training the supernet"); data sets where a ViT lacks more of a CNN's priors may differ.
"""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from hwnas.data import ResumableSampler, batches
from hwnas.data.transforms import random_affine

TEACHERS = ("none", "cnn")
WIDTH, BATCH, PEAK_LR, WEIGHT_DECAY, SMOOTHING = 32, 64, 3e-3, 5e-4, 0.1


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)
    )


class SmallCNN(nn.Sequential):
    """Three conv stages (``width``, 2x, 4x channels), each halving the resolution, then a linear head
    on a 3x3 map (any input size)."""

    def __init__(self, in_chans: int, num_classes: int, width: int = WIDTH) -> None:
        super().__init__(
            _stage(in_chans, width),
            _stage(width, 2 * width),
            _stage(2 * width, 4 * width),
            nn.AdaptiveMaxPool2d(3),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(4 * width * 9, num_classes),
        )


def train_teacher(
    train_ds: Dataset,
    in_chans: int,
    num_classes: int,
    seed: int,
    epochs: int = 8,
    device: str = "cpu",
    bf16: bool = False,
    workers: int = 0,
) -> SmallCNN:
    """A ``SmallCNN`` trained for ``epochs`` on the whole of ``train_ds`` (one-cycle AdamW, label smoothing,
    the random affine warp for in-memory tensors); returned in eval mode."""
    torch.manual_seed(seed)
    net = SmallCNN(in_chans, num_classes).to(device).train()
    sampler = ResumableSampler(train_ds, 1, 0, shuffle=True, seed=seed)
    per_epoch = len(cast(Sized, train_ds)) // BATCH
    if per_epoch == 0:
        return net.eval()
    opt = torch.optim.AdamW(net.parameters(), lr=PEAK_LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, PEAK_LR, total_steps=epochs * per_epoch)
    warp = isinstance(train_ds, TensorDataset)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        sampler.set_position(epoch)
        for x, y in batches(train_ds, sampler, BATCH, drop_last=True, workers=workers):
            if warp:
                x = random_affine(x, gen)
            x, y = x.to(device), y.to(device)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(net(x).float(), y, label_smoothing=SMOOTHING)
            if not math.isfinite(loss.item()):
                raise FloatingPointError("the CNN teacher's training diverged")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


@torch.no_grad()
def teacher_probs(teacher: nn.Module, x: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """The teacher's class probabilities for a batch (no gradient)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        return teacher(x).float().softmax(dim=-1)
