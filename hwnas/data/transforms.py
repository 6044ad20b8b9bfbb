"""ViT training transforms without torchvision: PIL for the geometry, torch for the tensors.

Train: random resized crop (scale 0.08-1, ratio 3/4-4/3, bicubic), horizontal flip, normalisation.
Eval: resize the short side to img_size / 0.875, centre crop, normalisation (the DeiT/timm recipe).
Batch level: mixup, cutmix and label smoothing as soft targets (``mix_batch``), and a random affine
warp (``random_affine``: small rotation, scale and shift) for data sets held in memory as tensors, such
as the bundled MNIST, where per-image PIL transforms would cost more than the model. RandAugment is not
provided.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GRAY_MEAN, GRAY_STD = (0.5,), (0.5,)
EVAL_CROP_PCT = 0.875


def to_tensor(img: Image.Image, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """(C, H, W) float32, scaled to 0..1, then normalised per channel."""
    a = np.asarray(img, dtype=np.float32) / 255.0
    a = a[:, :, None] if a.ndim == 2 else a
    t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    return (t - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def random_resized_box(
    w: int,
    h: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """A (left, top, right, bottom) box of random area and aspect ratio; the centre square if 10
    draws all fail (the torchvision rule)."""
    area = w * h
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return left, top, left + cw, top + ch
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return left, top, left + side, top + side


def train_transform(
    img_size: int, mean: tuple[float, ...], std: tuple[float, ...], hflip: float = 0.5
) -> Callable[[Image.Image, np.random.Generator], Tensor]:
    def apply(img: Image.Image, rng: np.random.Generator) -> Tensor:
        box = random_resized_box(*img.size, rng)
        img = img.resize((img_size, img_size), Image.Resampling.BICUBIC, box=box)
        if rng.random() < hflip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(img, mean, std)

    return apply


def eval_transform(
    img_size: int, mean: tuple[float, ...], std: tuple[float, ...], crop_pct: float = EVAL_CROP_PCT
) -> Callable[[Image.Image, np.random.Generator], Tensor]:
    def apply(img: Image.Image, rng: np.random.Generator | None = None) -> Tensor:
        short = int(math.floor(img_size / crop_pct))
        w, h = img.size
        s = short / min(w, h)
        img = img.resize((max(short, round(w * s)), max(short, round(h * s))), Image.Resampling.BICUBIC)
        w, h = img.size
        left, top = (w - img_size) // 2, (h - img_size) // 2
        return to_tensor(img.crop((left, top, left + img_size, top + img_size)), mean, std)

    return apply


def one_hot(y: Tensor, num_classes: int, smoothing: float = 0.0) -> Tensor:
    off = smoothing / num_classes
    return torch.full((y.shape[0], num_classes), off).scatter_(1, y[:, None], 1.0 - smoothing + off)


def mix_batch(
    x: Tensor,
    y: Tensor,
    num_classes: int,
    rng: np.random.Generator,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    smoothing: float = 0.0,
    switch_prob: float = 0.5,
) -> tuple[Tensor, Tensor]:
    """Mixup or cutmix with the flipped batch (one of them per batch, cutmix with ``switch_prob`` when
    both are on), and smoothed soft targets (B, num_classes). Random draws come from ``rng``."""
    target = one_hot(y, num_classes, smoothing)
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return x, target
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or rng.random() < switch_prob)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    flipped = x.flip(0)
    if use_cutmix:
        H, W = x.shape[-2:]
        ch, cw = int(H * math.sqrt(1 - lam)), int(W * math.sqrt(1 - lam))
        cy, cx = int(rng.integers(H)), int(rng.integers(W))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
        x = x.clone()
        x[..., y0:y1, x0:x1] = flipped[..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (H * W)
    else:
        x = x * lam + flipped * (1.0 - lam)
    return x, target * lam + target.flip(0) * (1.0 - lam)


def random_affine(
    x: Tensor, generator: torch.Generator, degrees: float = 10.0, scale: float = 0.1, shift: float = 2.0
) -> Tensor:
    """Each image of the batch (B, C, H, W) rotated by up to +-``degrees``, scaled by 1 +- ``scale`` and
    shifted by up to +-``shift`` pixels, bilinearly; uncovered pixels take the image's darkest value
    (the background of digit-like data). Draws come from ``generator``, so a step is reproducible."""
    B, _, H, W = x.shape

    def draw(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    angle = draw(B) * math.radians(degrees)
    zoom = 1 + draw(B) * scale
    move = draw(B, 2) * shift * 2 / torch.tensor([W, H])  # pixels -> normalised [-1, 1] units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, move[:, 0]], 1), torch.stack([sin, cos, move[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    fill = x.amin(dim=(1, 2, 3), keepdim=True)
    return F.grid_sample(x - fill, grid.to(x.device), align_corners=False, padding_mode="zeros") + fill
