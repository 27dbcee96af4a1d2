"""Losses for a rare foreground class: sigmoid focal loss (the study's) and soft Dice."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("focal", "focal+dice")


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25,
               gamma: float = 2.0) -> torch.Tensor:
    """Mean sigmoid focal loss (Lin et al. 2017), as MONAI's FocalLoss with ``use_softmax=False``:
    ``-α_t (1 - p_t)^γ log p_t``, with α weighting the lesion class and 1 - α the background."""
    if not 0 <= alpha <= 1 or gamma < 0:
        raise ValueError(f"need 0 ≤ alpha ≤ 1 and gamma ≥ 0, got alpha={alpha}, gamma={gamma}")
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * ce).mean()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor,
                   smooth: float = 1.0) -> torch.Tensor:
    """1 − soft Dice over the whole batch (one ratio, so crops without lesion do not dominate)."""
    p = torch.sigmoid(logits)
    intersection = (p * target).sum()
    return 1 - (2 * intersection + smooth) / (p.sum() + target.sum() + smooth)


def segmentation_loss(name: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``focal`` (α=0.25, γ=2) or ``focal+dice`` (their sum)."""
    if name == "focal":
        return focal_loss(logits, target)
    if name == "focal+dice":
        # The focal term is ~100× smaller than Dice on these crops; scale it so that both count.
        return 10.0 * focal_loss(logits, target) + soft_dice_loss(logits, target)
    raise ValueError(f"unknown loss {name!r}; expected one of {LOSSES}")
