"""The paper's losses as pure functions of tensors (Eq. 3 and 4, with SGRU's min over candidates).

Shapes: B images, K candidates. Images are in [0, 1]; features φ_l are (N, C, h, w) tensors.
Readings of the paper (architecture.md §3.8):
- L1 per-image min over the K candidates, mixed 0.999 * min + 0.001 * mean so every candidate learns;
  batch and candidate axes stay separate.
- L2 the SGRU sketch mask (paper ≈ 1, lines ≈ 0, area-resized to each layer) weights every term; off
  gives the literal paper.
- L3 α = 0.009 is L2 regularisation of the generator's weights (decoupled weight decay by default, or
  the coupled α‖W‖² term below); α Σ λ² read literally is a constant with no gradient.
- L4/L5 BCE GAN loss, real -> 1, all K candidates -> 0; the generator's non-saturating term is ours.
- L6 every term is a mean over space and channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .metrics.ranking import hint_errors

PAPER_LAMBDAS = (0.88, 0.79, 0.63, 0.51, 0.39, 1.07)


@dataclass
class LossConfig:
    lambdas: tuple[float, ...] = PAPER_LAMBDAS  # λ_0 (pixels) .. λ_5 (deepest D features)
    perceptual: bool = True  # False = the paper's SwishU-net-WPL: only the per-pixel term φ_0 remains
    sketch_mask: bool = True
    candidate_mean_weight: float = 0.001  # 0.999 * min + 0.001 * mean over candidates
    adversarial_weight: float = 0.02  # 0 = the literal paper (no adversarial term for G)
    l2_mode: Literal["decoupled", "coupled", "off"] = "decoupled"  # decoupled (AdamW weight decay) | coupled (α‖W‖² in the loss) | off
    l2_alpha: float = 0.009
    pixel_l1_weight: float = 0.0  # optional extra unmasked L1 on the best candidate
    hint_l1_weight: float = 0.0  # L1 on the candidate that follows the hints best (see hint_following_l1)
    # Candidate 1 as the anchor: it always takes the full Eq. 3 distance (not only when it is the best),
    # so it learns the most plausible colouring while the others stay free to differ (0 = the paper).
    anchor_weight: float = 0.0
    # Mean squared error of candidate 1 against the truth (PSNR's own measure). Where the sketch does
    # not say which colour an area has, the squared error is least at the mean colour over the art
    # seen, not at the bolder guesses a perceptual distance allows: 0 = off.
    anchor_mse_weight: float = 0.0


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, H, W) sketch in [0, 1] -> (B, 1, h, w) by area averaging (CRN's resize_area)."""
    if mask.shape[-2:] == size:
        return mask
    return F.adaptive_avg_pool2d(mask, size)


def layer_distance(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Masked mean L1 distance per fake sample.

    fake: (B*K, C, h, w); real: (B, C, h, w); mask: (B, 1, H, W) or None -> (B, K).
    """
    b = real.shape[0]
    k = fake.shape[0] // b
    diff = (fake.view(b, k, *fake.shape[1:]) - real.unsqueeze(1)).abs().mean(dim=2)  # (B, K, h, w)
    if mask is not None:
        diff = diff * resize_mask(mask, diff.shape[-2:])  # (B,1,h,w) broadcasts over K
    return diff.mean(dim=(2, 3))


def perceptual_distances(
    fake_features: list[torch.Tensor],
    real_features: list[torch.Tensor],
    lambdas: tuple[float, ...],
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Σ_l λ_l · d_l per candidate: (B, K). Lists start with φ_0 (the images themselves)."""
    if len(fake_features) != len(real_features):
        raise ValueError("fake and real feature lists differ in length")
    if len(fake_features) > len(lambdas):
        raise ValueError(f"{len(fake_features)} feature layers but only {len(lambdas)} λ weights")
    total = 0
    for lam, fake, real in zip(lambdas, fake_features, real_features):
        total = total + lam * layer_distance(fake, real, mask)
    return total


def min_over_candidates(per_candidate: torch.Tensor, mean_weight: float = 0.001) -> torch.Tensor:
    """(B, K) -> scalar: mean over the batch of (1 - w) * min_k + w * mean_k (per image, as SGRU)."""
    best = per_candidate.min(dim=1).values
    return ((1 - mean_weight) * best + mean_weight * per_candidate.mean(dim=1)).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 4 (typo-corrected): BCE with real -> 1 and every candidate -> 0, each side a mean."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN term over all candidates: -log σ(D(G(x)))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def decayed_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Convolution kernels only: norm γ/β and biases are not regularised."""
    return [p for n, p in model.named_parameters() if p.ndim > 1 and p.requires_grad]


def l2_regularization(model: nn.Module, alpha: float = 0.009) -> torch.Tensor:
    """α Σ‖W‖² over the generator's kernels (the 'coupled' reading of the paper's α term)."""
    return alpha * sum(p.pow(2).sum() for p in decayed_parameters(model))


def hint_following_l1(candidates: torch.Tensor, target: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
    """L1 to the ground truth of the candidate that best matches the hints, over the hinted images.

    Inference returns that candidate first, so this trains exactly what a user with hints gets: the
    min over candidates alone lets every candidate ignore the hints. (B, K, 3, H, W), (B, 3, H, W),
    (B, 4, H, W) -> scalar (0 when no image in the batch has hints).
    """
    hinted = hints[:, 3].flatten(1).amax(1) > 0
    if not hinted.any():
        return candidates.sum() * 0
    with torch.no_grad():
        chosen = hint_errors(candidates[hinted], hints[hinted]).argmin(1)
    picked = candidates[hinted][torch.arange(len(chosen), device=candidates.device), chosen]
    return (picked - target[hinted]).abs().mean()

