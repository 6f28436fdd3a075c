"""Which of a sketch's K candidates is "best": one home for every ranking rule, each with its own name.

- closest_candidate: lowest mean L1 to the ground truth; "best of K" wherever a ground truth is known
  (evaluation rows, validation during training).
- hint_errors: how far each candidate is from the user's hints at the hinted pixels; with hints,
  inference returns the lowest first and the hint loss trains that one.
The perceptual loss's min over candidates (losses.min_over_candidates, and the candidate it picks for
the optional pixel L1 term) is the training objective itself, not a ranking, and stays with the losses.
"""

from __future__ import annotations

import torch


def candidate_l1(candidates: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of each candidate: (B, K, 3, H, W), (B, 3, H, W) -> (B, K)."""
    return (candidates - target.unsqueeze(1)).abs().flatten(2).mean(2)


def closest_candidate(candidates: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, K, 3, H, W), (B, 3, H, W) -> (B,) index of the candidate with the lowest L1 to the target."""
    return candidate_l1(candidates, target).argmin(dim=1)


def hint_errors(candidates: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
    """Mean absolute colour error of each candidate at the hinted pixels: (B, K, 3, H, W), (B, 4, H, W) -> (B, K).

    The candidate with the lowest error is the one that follows the hints: inference returns it first
    and the hint loss trains it. Images without hints get zeros.
    """
    mask = hints[:, None, 3:]
    err = ((candidates - hints[:, None, :3]).abs().mean(2, keepdim=True) * mask).flatten(2).sum(2)
    return err / mask.flatten(2).sum(2).clamp_min(1)
