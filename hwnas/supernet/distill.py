"""Losses for supernet training: smoothed cross-entropy on labels or soft targets, and the in-place
distillation loss of the sandwich rule (KL from the largest subnet's detached predictions)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def classification_loss(logits: Tensor, target: Tensor, smoothing: float = 0.0) -> Tensor:
    """Cross-entropy with label smoothing for class indices; soft-target cross-entropy for (B, C)
    targets (already smoothed / mixed)."""
    if target.ndim == 1:
        return F.cross_entropy(logits, target, label_smoothing=smoothing)
    return -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def inplace_distillation_loss(student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
    """KL(teacher || student), batch mean; ``teacher_probs`` must be detached."""
    return F.kl_div(F.log_softmax(student_logits, dim=-1), teacher_probs, reduction="batchmean")
