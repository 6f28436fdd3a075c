"""Fit the region chooser (regions.choice) from examples: unhinted regions, their options' features and
each option's squared colour error against the truth.

The scorer gives each region a softmax over its options and is trained to minimise the expected error,
weighted by the region's area, so it learns where the network's colour is worth trusting and where
paper or the neighbours' colour is the safer bet. A few seconds on a CPU for some 10⁵ regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..regions.choice import RegionChooser, feature_count


@dataclass(frozen=True)
class ChooserFitConfig:
    hidden: int = 64
    epochs: int = 150  # measured by 2-fold cross-validation over characters: 20 underfits, 300 gains nothing
    batch: int = 4096  # regions per step
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    max_area_share: float = 0.02  # a region weighs as much as its area, up to this share of its image: a
    # background the chooser decides can be half the image, and uncapped such regions steered the fit away
    # from the many small ones (capped against uncapped: better on 7 of 8 unscored set x protocol rows,
    # user-like on the fitting images 19.55 -> 20.42 dB; docs/anime-model.md, eleventh session)


@dataclass
class RegionExamples:
    """features (N, O, F); errors (N, O) squared RGB distance of each option to the region's true mean
    colour; areas (N,) each region's off-line pixels as a share of its image, the region's weight."""

    features: np.ndarray
    errors: np.ndarray
    areas: np.ndarray

    @classmethod
    def join(cls, parts: list["RegionExamples"]) -> "RegionExamples":
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("features", "errors", "areas")))

    def __len__(self) -> int:
        return len(self.areas)

    def mean_error(self, pick: np.ndarray) -> float:
        """Area-weighted mean squared error of choosing option `pick` (N,) in every region."""
        return float((self.errors[np.arange(len(pick)), pick] * self.areas).sum() / max(self.areas.sum(), 1e-12))


class Scorer(nn.Module):
    """The chooser's MLP in torch, the same layout that RegionChooser runs in numpy."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.layer1, self.layer2 = nn.Linear(features, hidden), nn.Linear(hidden, hidden)
        self.layer3 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.silu(self.layer1(x))
        x = nn.functional.silu(self.layer2(x))
        return self.layer3(x)[..., 0]


def fit_region_chooser(examples: RegionExamples, candidates: int,
                       cfg: ChooserFitConfig = ChooserFitConfig()) -> RegionChooser:
    """A RegionChooser fitted to the examples (deterministic for a seed)."""
    if not len(examples):
        raise ValueError("no unhinted regions to fit the region chooser on")
    if examples.features.shape[-1] != feature_count(candidates):
        raise ValueError(f"examples have {examples.features.shape[-1]} features, {candidates} candidates need "
                         f"{feature_count(candidates)}")
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    flat = examples.features.reshape(-1, examples.features.shape[-1])
    mean, std = flat.mean(0), flat.std(0) + 1e-4
    x = torch.from_numpy((examples.features - mean) / std).float()
    errors = torch.from_numpy(examples.errors).float()
    capped = np.minimum(examples.areas, cfg.max_area_share)
    weight = torch.from_numpy(capped / max(capped.mean(), 1e-12)).float()
    scorer = Scorer(x.shape[-1], cfg.hidden)
    opt = torch.optim.Adam(scorer.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.epochs):
        for batch in torch.randperm(len(x), generator=gen).split(cfg.batch):
            expected = (scorer(x[batch]).softmax(-1) * errors[batch]).sum(-1)
            loss = (expected * weight[batch]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    layers = {"1": scorer.layer1, "2": scorer.layer2, "3": scorer.layer3}
    weights = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for name, layer in layers.items():
        weights["w" + name] = layer.weight.detach().numpy().copy()
        weights["b" + name] = layer.bias.detach().numpy().copy()
    return RegionChooser(weights, candidates)
